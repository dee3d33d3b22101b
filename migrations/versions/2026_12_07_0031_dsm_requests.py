"""Surface models on demand: requests and their timeline; the price grid's dsm row

A member asks for a Digital Surface Model from a stereo group of the
catalogue (issue 17). `dsm_requests` holds the request (AOI, charged km² on
the `dsm` quota family, the co-funding quote when beyond the allowance), the
state of its computation (job, attempts, progress, failure, log) and the
delivered item; `dsm_events` its timeline. The price grid accepts a `dsm`
kind (one row per profile, sensor `dsm`). Reviewed by hand.

Revision ID: 0031_dsm_requests
Revises: 0030_ingest_progress
Create Date: 2026-12-07 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0031_dsm_requests"
down_revision: str | None = "0030_ingest_progress"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "('awaiting_quote', 'queued', 'running', 'delivered', 'failed', 'cancelled')"
FAILURES = "('engine', 'timeout', 'transient', 'worker_lost', 'files')"


def upgrade() -> None:
    op.create_table(
        "dsm_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("scene_id", sa.String(length=200), nullable=False),
        sa.Column("stereo_group", sa.String(length=100), nullable=False),
        sa.Column("source_ids", postgresql.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column(
            "aoi",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON", srid=4326, spatial_index=False
            ),
            nullable=False,
        ),
        sa.Column("aoi_km2", sa.Numeric(14, 2), nullable=False),
        sa.Column("charged_km2", sa.Numeric(14, 2), nullable=False),
        sa.Column("family", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("free_km2", sa.Numeric(14, 2), nullable=False),
        sa.Column("cofunded_km2", sa.Numeric(14, 2), nullable=False),
        sa.Column("resolution_m", sa.Numeric(8, 3), nullable=False),
        sa.Column("project_title", sa.String(length=200), nullable=False),
        sa.Column("project_description", sa.Text(), nullable=False),
        sa.Column("theme", sa.String(length=50), nullable=False),
        sa.Column("eur_per_km2", sa.Numeric(14, 2), nullable=True),
        sa.Column("excluding_tax", sa.Numeric(14, 2), nullable=True),
        sa.Column("tax_rate", sa.Numeric(5, 4), nullable=True),
        sa.Column("tax", sa.Numeric(14, 2), nullable=True),
        sa.Column("including_tax", sa.Numeric(14, 2), nullable=True),
        sa.Column("quote_valid_until", sa.Date(), nullable=True),
        sa.Column("quote_decided_by_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("progress_message", sa.String(length=200), nullable=True),
        sa.Column("failure_code", sa.String(length=20), nullable=True),
        sa.Column("failure_detail", sa.Text(), nullable=True),
        sa.Column("log", sa.Text(), nullable=True),
        sa.Column("item_id", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_dsm_requests_status")),
        sa.CheckConstraint(
            "progress BETWEEN 0 AND 100", name=op.f("ck_dsm_requests_progress_range")
        ),
        sa.CheckConstraint(
            "charged_km2 > 0 AND free_km2 >= 0 AND cofunded_km2 >= 0",
            name=op.f("ck_dsm_requests_areas"),
        ),
        sa.CheckConstraint("resolution_m > 0", name=op.f("ck_dsm_requests_resolution_positive")),
        sa.CheckConstraint(
            f"failure_code IS NULL OR failure_code IN {FAILURES}",
            name=op.f("ck_dsm_requests_failure_code"),
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_dsm_requests_entity_id_entities"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_dsm_requests_requester_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["quote_decided_by_id"],
            ["users.id"],
            name=op.f("fk_dsm_requests_quote_decided_by_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["scene_id"],
            ["scenes.id"],
            name=op.f("fk_dsm_requests_scene_id_scenes"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["scenes.id"],
            name=op.f("fk_dsm_requests_item_id_scenes"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dsm_requests")),
    )
    op.create_index(op.f("ix_dsm_requests_status"), "dsm_requests", ["status"])
    op.create_index(op.f("ix_dsm_requests_entity_id"), "dsm_requests", ["entity_id"])
    op.create_index(op.f("ix_dsm_requests_requester_id"), "dsm_requests", ["requester_id"])
    op.create_index(op.f("ix_dsm_requests_job_id"), "dsm_requests", ["job_id"])
    op.create_table(
        "dsm_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["dsm_requests.id"],
            name=op.f("fk_dsm_events_request_id_dsm_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_dsm_events_actor_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dsm_events")),
    )
    op.create_index(op.f("ix_dsm_events_request_id"), "dsm_events", ["request_id"])
    op.drop_constraint(op.f("ck_price_rules_order_kind"), "price_rules", type_="check")
    op.create_check_constraint(
        op.f("ck_price_rules_order_kind"),
        "price_rules",
        "order_kind IN ('tasking', 'archive', 'dsm')",
    )


def downgrade() -> None:
    op.execute("DELETE FROM price_rules WHERE order_kind = 'dsm'")
    op.drop_constraint(op.f("ck_price_rules_order_kind"), "price_rules", type_="check")
    op.create_check_constraint(
        op.f("ck_price_rules_order_kind"), "price_rules", "order_kind IN ('tasking', 'archive')"
    )
    op.drop_index(op.f("ix_dsm_events_request_id"), table_name="dsm_events")
    op.drop_table("dsm_events")
    for column in ("job_id", "requester_id", "entity_id", "status"):
        op.drop_index(op.f(f"ix_dsm_requests_{column}"), table_name="dsm_requests")
    op.drop_table("dsm_requests")
