"""Usage reports

Users' reports on their use of the imagery (after a delivered order, and once
a year), with their publications; one report per order and one yearly
report per user and year (a partial unique index). Generated, then reviewed
by hand: the constraint names follow the naming convention, nothing else.

Revision ID: 0013_usage_reports
Revises: 0012_archive_orders
Create Date: 2026-11-25 13:31:04.021426
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_usage_reports"
down_revision: str | None = "0012_archive_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("project", sa.String(length=300), nullable=False),
        sa.Column("themes", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("scene_ids", postgresql.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column("products", sa.Text(), nullable=False),
        sa.Column("benefit", sa.Text(), nullable=False),
        sa.Column("comments", sa.Text(), nullable=False),
        sa.Column("staff_comment", sa.Text(), nullable=True),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(kind = 'order') = (order_id IS NOT NULL)",
            name=op.f("ck_usage_reports_order_report_has_order"),
        ),
        sa.CheckConstraint("kind IN ('order', 'annual')", name=op.f("ck_usage_reports_kind")),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'returned', 'accepted')",
            name=op.f("ck_usage_reports_status"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_usage_reports_author_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_usage_reports_entity_id_entities"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_usage_reports_order_id_orders"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["users.id"],
            name=op.f("fk_usage_reports_reviewer_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_reports")),
        sa.UniqueConstraint("order_id", name="uq_usage_reports_order"),
    )
    op.create_index(
        op.f("ix_usage_reports_author_id"), "usage_reports", ["author_id"], unique=False
    )
    op.create_index(
        op.f("ix_usage_reports_entity_id"), "usage_reports", ["entity_id"], unique=False
    )
    op.create_index(op.f("ix_usage_reports_status"), "usage_reports", ["status"], unique=False)
    op.create_index(
        "uq_usage_reports_annual",
        "usage_reports",
        ["author_id", "year"],
        unique=True,
        postgresql_where=sa.text("kind = 'annual'"),
    )
    op.create_table(
        "report_publications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("doi", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "year BETWEEN 1900 AND 2200", name=op.f("ck_report_publications_year_range")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["usage_reports.id"],
            name=op.f("fk_report_publications_report_id_usage_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_publications")),
    )
    op.create_index(
        op.f("ix_report_publications_report_id"), "report_publications", ["report_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_report_publications_report_id"), table_name="report_publications")
    op.drop_table("report_publications")
    op.drop_index(
        "uq_usage_reports_annual",
        table_name="usage_reports",
        postgresql_where=sa.text("kind = 'annual'"),
    )
    op.drop_index(op.f("ix_usage_reports_status"), table_name="usage_reports")
    op.drop_index(op.f("ix_usage_reports_entity_id"), table_name="usage_reports")
    op.drop_index(op.f("ix_usage_reports_author_id"), table_name="usage_reports")
    op.drop_table("usage_reports")
