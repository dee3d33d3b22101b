"""Archive orders

The scenes of an archive order (each cut to an AOI or whole), the catalogue
scene a delivery links to, and the Idempotency-Key of API create requests.
Reviewed by hand.

Revision ID: 0012_archive_orders
Revises: 0011_downloads
Create Date: 2026-11-25 14:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0012_archive_orders"
down_revision: str | None = "0011_downloads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("scene_id", sa.String(length=200), nullable=False),
        sa.Column(
            "cut",
            Geometry(geometry_type="MULTIPOLYGON", srid=4326, spatial_index=False),
            nullable=True,
        ),
        sa.Column("km2", sa.Numeric(14, 2), nullable=False),
        sa.CheckConstraint("km2 > 0", name=op.f("ck_order_items_km2_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_items_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scene_id"],
            ["scenes.id"],
            name=op.f("fk_order_items_scene_id_scenes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
        sa.UniqueConstraint("order_id", "scene_id", name="uq_order_items_scene"),
    )
    op.create_index(op.f("ix_order_items_order_id"), "order_items", ["order_id"])
    op.create_index(op.f("ix_order_items_scene_id"), "order_items", ["scene_id"])
    op.add_column("deliveries", sa.Column("scene_id", sa.String(length=200), nullable=True))
    op.create_foreign_key(
        op.f("fk_deliveries_scene_id_scenes"),
        "deliveries",
        "scenes",
        ["scene_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(op.f("ix_deliveries_scene_id"), "deliveries", ["scene_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_deliveries_scene_id"), table_name="deliveries")
    op.drop_constraint(op.f("fk_deliveries_scene_id_scenes"), "deliveries", type_="foreignkey")
    op.drop_column("deliveries", "scene_id")
    op.drop_index(op.f("ix_order_items_scene_id"), table_name="order_items")
    op.drop_index(op.f("ix_order_items_order_id"), table_name="order_items")
    op.drop_table("order_items")
