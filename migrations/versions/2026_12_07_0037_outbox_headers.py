"""Mail outbox: a message's own headers

`outbox_messages.headers` (JSON object, name -> value, null when none): headers a
message carries beside From, To, Subject and Message-ID; the alerts' messages give
List-Unsubscribe and List-Unsubscribe-Post (RFC 8058: one click in the mail client
posts to the signed unsubscribe link). Reviewed by hand.

Revision ID: 0037_outbox_headers
Revises: 0036_alert_told_through
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0037_outbox_headers"
down_revision: str | None = "0036_alert_told_through"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox_messages", sa.Column("headers", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox_messages", "headers")
