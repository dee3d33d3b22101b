"""Saved searches told by webhook

`saved_searches.webhook_id`: the member's webhook (dinamis.webhooks) that receives
the `saved_search.scenes` events of a search whose channel is `webhook`; a webhook
deleted leaves it NULL, and the search's messages go by e-mail again. Reviewed by
hand.

Revision ID: 0032_saved_search_webhook
Revises: 0031_dsm_requests
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032_saved_search_webhook"
down_revision: str | None = "0031_dsm_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("saved_searches", sa.Column("webhook_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_saved_searches_webhook_id_webhooks"),
        "saved_searches",
        "webhooks",
        ["webhook_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(op.f("ix_saved_searches_webhook_id"), "saved_searches", ["webhook_id"])


def downgrade() -> None:
    op.execute("UPDATE saved_searches SET channel = 'email' WHERE channel = 'webhook'")
    op.drop_index(op.f("ix_saved_searches_webhook_id"), table_name="saved_searches")
    op.drop_constraint(
        op.f("fk_saved_searches_webhook_id_webhooks"), "saved_searches", type_="foreignkey"
    )
    op.drop_column("saved_searches", "webhook_id")
