"""Surface-model steps told after the commit: `dsm_events.told_at`

A surface-model request's step (its `dsm_events` row) was told in the
transaction that took it: the requester's status e-mail written and an event
written for each of their order webhooks. The step is now written alone, untold
(`told_at` null), and told after the commit as an order's step is (0039):
dsm.service.tell_steps, run by the outbox worker, writes the same e-mail and
webhook events from the step and marks it; the partial index finds the steps
still to tell. Existing steps were told when they were taken: marked at their
own time. Reviewed by hand.

Revision ID: 0040_dsm_events_told
Revises: 0039_order_events_told
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040_dsm_events_told"
down_revision: str | None = "0039_order_events_told"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dsm_events", sa.Column("told_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE dsm_events SET told_at = created_at")
    op.create_index(
        "ix_dsm_events_untold",
        "dsm_events",
        ["id"],
        postgresql_where=sa.text("told_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_dsm_events_untold", table_name="dsm_events")
    op.drop_column("dsm_events", "told_at")
