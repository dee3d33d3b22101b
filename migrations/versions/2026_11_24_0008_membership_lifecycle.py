"""Membership lifecycle

Membership life: renewal requests, expiry reminders, the Referent's hand-over.
Reviewed by hand.

Revision ID: 0008_membership_lifecycle
Revises: 0007_membership
Create Date: 2026-11-24 19:39:08.725114
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_membership_lifecycle"
down_revision: str | None = "0007_membership"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "entities", sa.Column("renewal_requested_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("entities", sa.Column("last_reminder_days", sa.Integer(), nullable=True))
    op.add_column("entities", sa.Column("handover_to_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_entities_handover_to_id_users"),
        "entities",
        "users",
        ["handover_to_id"],
        ["id"],
        ondelete="SET NULL",
        use_alter=True,
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_entities_handover_to_id_users"), "entities", type_="foreignkey")
    op.drop_column("entities", "handover_to_id")
    op.drop_column("entities", "last_reminder_days")
    op.drop_column("entities", "renewal_requested_at")
