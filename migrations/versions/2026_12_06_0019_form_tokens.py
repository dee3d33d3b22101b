"""Form tokens: the web forms' one-time tokens share the API's idempotency keys

The public forms (joining, asking for an account, support) are sent by nobody
signed in: `user_id` becomes nullable, and their keys are unique on their own
(a partial unique index), so two simultaneous submissions of one form cannot
both create. Form tokens expire (`expires_at`, indexed for the purge); the
API's keys keep NULL there and never expire. Downgrading deletes the rows
without a user (they cannot satisfy NOT NULL). Reviewed by hand.

Revision ID: 0019_form_tokens
Revises: 0018_jobs
Create Date: 2026-12-06 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_form_tokens"
down_revision: str | None = "0018_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("idempotency_keys", "user_id", existing_type=sa.Integer(), nullable=True)
    op.add_column(
        "idempotency_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.create_index(
        "uq_idempotency_anonymous_key",
        "idempotency_keys",
        ["key"],
        unique=True,
        postgresql_where=sa.text("user_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_idempotency_anonymous_key", table_name="idempotency_keys")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_column("idempotency_keys", "expires_at")
    op.execute("DELETE FROM idempotency_keys WHERE user_id IS NULL")
    op.alter_column("idempotency_keys", "user_id", existing_type=sa.Integer(), nullable=False)
