"""Order steps told after the request: `order_events.told_at`

An order's step (its `order_events` row) was told in the request that took it:
the requester's status e-mail rendered and written, and their order webhooks
looked up and an event written for each, inside the submission. The step is now
written alone, untold (`told_at` null), and told after the commit by the outbox
worker (orders.service.tell_steps: the same e-mail and webhook events, from the
step), which marks it; the partial index finds the steps still to tell.
Existing steps were told when they were taken: marked at their own time.
Reviewed by hand.

Revision ID: 0039_order_events_told
Revises: 0038_webhook_previous_secret
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039_order_events_told"
down_revision: str | None = "0038_webhook_previous_secret"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("order_events", sa.Column("told_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE order_events SET told_at = created_at")
    op.create_index(
        "ix_order_events_untold",
        "order_events",
        ["id"],
        postgresql_where=sa.text("told_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_order_events_untold", table_name="order_events")
    op.drop_column("order_events", "told_at")
