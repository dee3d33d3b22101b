"""Baskets kept with the account

A member's basket was a list in the browser's session: signing in on another
browser showed it empty. It is now a table, one row per member and scene (a
visitor's basket stays in their session and joins the account at sign-in).
A scene removed from the catalogue leaves the baskets. Reviewed by hand.

Revision ID: 0022_basket_items
Revises: 0021_french_titles
Create Date: 2026-12-07 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_basket_items"
down_revision: str | None = "0021_french_titles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "basket_items",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("scene_id", sa.String(length=200), nullable=False),
        sa.Column(
            "added_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_basket_items_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scene_id"],
            ["scenes.id"],
            name=op.f("fk_basket_items_scene_id_scenes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_basket_items")),
        sa.UniqueConstraint("user_id", "scene_id", name="uq_basket_items_scene"),
    )
    op.create_index(op.f("ix_basket_items_scene_id"), "basket_items", ["scene_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_basket_items_scene_id"), table_name="basket_items")
    op.drop_table("basket_items")
