"""Catalogue ingest progress: where an interrupted NDJSON load resumes

`catalogue_ingest_progress`: one row per NDJSON file whose
`dinamis catalogue ingest` has committed a checkpoint and not finished (the
file's path, size and modification time, the byte offset of the next line,
the items committed so far). Written in the same transaction as the items it
counts; deleted when the file is done. Reviewed by hand.

Revision ID: 0030_ingest_progress
Revises: 0029_order_key_at_commit
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_ingest_progress"
down_revision: str | None = "0029_order_key_at_commit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue_ingest_progress",
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("byte_offset", sa.BigInteger(), nullable=False),
        sa.Column("line_number", sa.BigInteger(), nullable=False),
        sa.Column("items", sa.BigInteger(), nullable=False),
        sa.Column("refused", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_catalogue_ingest_progress")),
    )


def downgrade() -> None:
    op.drop_table("catalogue_ingest_progress")
