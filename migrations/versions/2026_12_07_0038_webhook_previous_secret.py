"""Webhooks: a rotated secret goes on signing for a while

`webhooks.previous_secret` and `previous_secret_until`: after a rotation, events
carry two signatures (`v1` with the new secret, then with the old one) until then,
so that the owner's server switches secrets without losing an event. Null when
never rotated. Reviewed by hand.

Revision ID: 0038_webhook_previous_secret
Revises: 0037_outbox_headers
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038_webhook_previous_secret"
down_revision: str | None = "0037_outbox_headers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhooks", sa.Column("previous_secret", sa.String(100), nullable=True))
    op.add_column(
        "webhooks",
        sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("webhooks", "previous_secret_until")
    op.drop_column("webhooks", "previous_secret")
