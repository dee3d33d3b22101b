"""Background jobs: Procrastinate's schema and the record of failed jobs

Procrastinate (a job queue on PostgreSQL: no other service) keeps its jobs,
events, periodic deferrals and workers in its own tables, types, functions
and triggers. Its schema is the SQL that procrastinate 3.10.0 ships
(`procrastinate/sql/schema.sql`), copied verbatim to
migrations/sql/procrastinate-3.10.0.sql so that this revision creates the
same objects whatever version is installed later; upgrading the library
means a new revision applying its migration files (procrastinate/sql/migrations).
The dependency is pinned to 3.10.* for that reason.

`job_failures` is ours: Procrastinate records that a job failed, not why;
each failed attempt's error is kept here for the staff's scheduler page.

Downgrade drops every procrastinate_* object. Reviewed by hand.

Revision ID: 0018_jobs
Revises: 0017_delivery_area
Create Date: 2026-12-06 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0018_jobs"
down_revision: str | None = "0017_delivery_area"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = Path(__file__).resolve().parent.parent / "sql" / "procrastinate-3.10.0.sql"


def _raw(sql: str) -> None:
    # The DBAPI connection, without parameters: the schema's `%` and `:` are
    # SQL, not placeholders; several statements in one string.
    op.get_bind().connection.driver_connection.execute(sql)


def upgrade() -> None:
    _raw(SCHEMA.read_text(encoding="utf-8"))
    op.create_table(
        "job_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("task_name", sa.String(length=128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column(
            "failed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_failures")),
    )
    op.create_index(
        "ix_job_failures_task_name_id", "job_failures", ["task_name", "id"], unique=False
    )
    op.create_index(op.f("ix_job_failures_job_id"), "job_failures", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_job_failures_job_id"), table_name="job_failures")
    op.drop_index("ix_job_failures_task_name_id", table_name="job_failures")
    op.drop_table("job_failures")
    _raw(
        """
        DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
            procrastinate_jobs, procrastinate_workers CASCADE;
        DO $$
        DECLARE f regprocedure;
        BEGIN
            FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE 'DROP FUNCTION ' || f || ' CASCADE';
            END LOOP;
        END $$;
        DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
            procrastinate_job_status CASCADE;
        """
    )
