"""Yearly PDF reports made on the job queue, not in a request

The programme's yearly PDF (and an entity's) took from seconds to minutes in
a web request. Staff (or the entity's Referent) now ask for one; the job
`yearly_pdf` makes it, reporting its progress and step; the file is kept in
`yearly_pdfs.content` (in the database: any worker machine makes it, any web
process serves it), with the job, attempts and last error for staff. The
newest documents of a year and entity are found by (year, entity_id, id).
Down: the table goes (the documents can be made again). Reviewed by hand.

Revision ID: 0035_yearly_pdfs
Revises: 0034_scene_cells
Create Date: 2026-12-07 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035_yearly_pdfs"
down_revision: str | None = "0034_scene_cells"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "('queued', 'running', 'ready', 'failed')"


def upgrade() -> None:
    op.create_table(
        "yearly_pdfs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_yearly_pdfs_status")),
        sa.CheckConstraint(
            "progress BETWEEN 0 AND 100", name=op.f("ck_yearly_pdfs_progress_range")
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_yearly_pdfs_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_yearly_pdfs_requested_by_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_yearly_pdfs")),
    )
    op.create_index("ix_yearly_pdfs_year_entity_id_id", "yearly_pdfs", ["year", "entity_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_yearly_pdfs_year_entity_id_id", table_name="yearly_pdfs")
    op.drop_table("yearly_pdfs")
