"""Catalogue

The image catalogue: collections and scenes (footprints with a GiST index,
keyset indexes for the search's order). Reviewed by hand.

Revision ID: 0010_catalogue
Revises: 0009_entity_changes
Create Date: 2026-11-24 19:59:00.150463
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0010_catalogue"
down_revision: str | None = "0009_entity_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("sensor_family", sa.String(length=50), nullable=False),
        sa.Column("licence_code", sa.String(length=50), nullable=False),
        sa.Column("licence_version", sa.String(length=20), nullable=False),
        sa.Column("licence_url", sa.String(length=300), nullable=True),
        sa.Column("access", sa.String(length=10), nullable=False),
        sa.Column("profiles", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("orderable", sa.Boolean(), nullable=False),
        sa.Column("extra", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "access IN ('open', 'members', 'profiles')", name=op.f("ck_collections_access")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
    )
    op.create_geospatial_table(
        "scenes",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("collection_id", sa.String(length=100), nullable=False),
        sa.Column("platform", sa.String(length=50), nullable=True),
        sa.Column("constellation", sa.String(length=50), nullable=True),
        sa.Column(
            "footprint",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cloud_cover", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("incidence_angle", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("sun_elevation", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("sun_azimuth", sa.Numeric(precision=6, scale=2), nullable=True),
        sa.Column("gsd", sa.Numeric(precision=8, scale=3), nullable=True),
        sa.Column("processing_level", sa.String(length=30), nullable=True),
        sa.Column("spectral_mode", sa.String(length=20), nullable=True),
        sa.Column("stereo_group", sa.String(length=100), nullable=True),
        sa.Column("quicklook", sa.String(length=500), nullable=True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("assets", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "cloud_cover IS NULL OR cloud_cover BETWEEN 0 AND 100",
            name=op.f("ck_scenes_cloud_range"),
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_scenes_collection_id_collections"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenes")),
    )
    op.create_geospatial_index(
        "idx_scenes_footprint",
        "scenes",
        ["footprint"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_scenes_collection_datetime_id",
        "scenes",
        ["collection_id", "datetime", "id"],
        unique=False,
    )
    op.create_index("ix_scenes_datetime_id", "scenes", ["datetime", "id"], unique=False)
    op.create_index(op.f("ix_scenes_stereo_group"), "scenes", ["stereo_group"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_scenes_stereo_group"), table_name="scenes")
    op.drop_index("ix_scenes_datetime_id", table_name="scenes")
    op.drop_index("ix_scenes_collection_datetime_id", table_name="scenes")
    op.drop_geospatial_index(
        "idx_scenes_footprint",
        table_name="scenes",
        postgresql_using="gist",
        column_name="footprint",
    )
    op.drop_geospatial_table("scenes")
    op.drop_table("collections")
