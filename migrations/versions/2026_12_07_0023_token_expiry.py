"""API tokens expire: an end chosen at creation, and a reminder before it.

Tokens created before this revision had no end: they get the default
lifetime (90 days) from the upgrade, so that no program stops at once and
their owners are reminded a week before.

Revision ID: 0023_token_expiry
Revises: 0022_basket_items
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_token_expiry"
down_revision: str | None = "0022_basket_items"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_tokens", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE api_tokens SET expires_at = now() + interval '90 days'")
    op.alter_column("api_tokens", "expires_at", nullable=False)


def downgrade() -> None:
    op.drop_column("api_tokens", "reminded_at")
    op.drop_column("api_tokens", "expires_at")
