"""Orders

Tasking requests and archive orders, their events, deliveries and quotes.
Reviewed by hand: GeoAlchemy2's helpers create the AOI's spatial index.

Revision ID: 0005_orders
Revises: 0004_quota
Create Date: 2026-11-24 19:09:14.375895
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0005_orders"
down_revision: str | None = "0004_quota"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("sensor", sa.String(length=20), nullable=False),
        sa.Column(
            "aoi",
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
        sa.Column("aoi_km2", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("charged_km2", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("family", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("free_km2", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("cofunded_km2", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=True),
        sa.Column("window_end", sa.Date(), nullable=True),
        sa.Column("max_cloud_cover", sa.Integer(), nullable=False),
        sa.Column("max_incidence", sa.Integer(), nullable=False),
        sa.Column("spectral_mode", sa.String(length=10), nullable=False),
        sa.Column("project_title", sa.String(length=200), nullable=False),
        sa.Column("project_description", sa.Text(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("theme", sa.String(length=50), nullable=False),
        sa.Column("funding", sa.String(length=300), nullable=True),
        sa.Column("staff_comment", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('tasking', 'archive')", name=op.f("ck_orders_kind")),
        sa.CheckConstraint("mode IN ('mono', 'stereo', 'tristereo')", name=op.f("ck_orders_mode")),
        sa.CheckConstraint(
            "sensor IN ('pleiades', 'pleiades-neo', 'spot')", name=op.f("ck_orders_sensor")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'awaiting_quote', 'under_review', 'accepted', 'partially_delivered', 'delivered', 'closed', 'rejected', 'cancelled', 'expired')",
            name=op.f("ck_orders_status"),
        ),
        sa.CheckConstraint(
            "charged_km2 >= 0 AND free_km2 >= 0 AND cofunded_km2 >= 0", name=op.f("ck_orders_areas")
        ),
        sa.CheckConstraint("max_cloud_cover BETWEEN 0 AND 100", name=op.f("ck_orders_cloud_range")),
        sa.CheckConstraint(
            "max_incidence BETWEEN 0 AND 60", name=op.f("ck_orders_incidence_range")
        ),
        sa.CheckConstraint(
            "window_end IS NULL OR window_end > window_start", name=op.f("ck_orders_window_order")
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_orders_entity_id_entities"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_orders_requester_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_geospatial_index(
        "idx_orders_aoi",
        "orders",
        ["aoi"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_orders_entity_id"), "orders", ["entity_id"], unique=False)
    op.create_index(op.f("ix_orders_requester_id"), "orders", ["requester_id"], unique=False)
    op.create_index(op.f("ix_orders_status"), "orders", ["status"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("scene_ref", sa.String(length=200), nullable=False),
        sa.Column("km2", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("km2 > 0", name=op.f("ck_deliveries_km2_positive")),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_deliveries_actor_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_deliveries_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    op.create_index(op.f("ix_deliveries_order_id"), "deliveries", ["order_id"], unique=False)
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_order_events_actor_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_events_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    op.create_index(op.f("ix_order_events_order_id"), "order_events", ["order_id"], unique=False)
    op.create_table(
        "quotes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("free_km2", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("cofunded_km2", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("eur_per_km2", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("excluding_tax", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=5, scale=4), nullable=False),
        sa.Column("tax", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("including_tax", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'expired')",
            name=op.f("ck_quotes_status"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_quotes_decided_by_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_quotes_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotes")),
    )
    op.create_index(op.f("ix_quotes_order_id"), "quotes", ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_quotes_order_id"), table_name="quotes")
    op.drop_table("quotes")
    op.drop_index(op.f("ix_order_events_order_id"), table_name="order_events")
    op.drop_table("order_events")
    op.drop_index(op.f("ix_deliveries_order_id"), table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index(op.f("ix_orders_status"), table_name="orders")
    op.drop_index(op.f("ix_orders_requester_id"), table_name="orders")
    op.drop_index(op.f("ix_orders_entity_id"), table_name="orders")
    op.drop_geospatial_index(
        "idx_orders_aoi", table_name="orders", postgresql_using="gist", column_name="aoi"
    )
    op.drop_geospatial_table("orders")
