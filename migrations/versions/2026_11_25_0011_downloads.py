"""Downloads

Licence acceptances (one row per member and licence version) and the log of
every file sent. Reviewed by hand: the log keeps scene and collection ids as
plain text so that it outlives a scene withdrawn from the catalogue.

Revision ID: 0011_downloads
Revises: 0010_catalogue
Create Date: 2026-11-25 13:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_downloads"
down_revision: str | None = "0010_catalogue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "licence_acceptances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("licence_code", sa.String(length=50), nullable=False),
        sa.Column("licence_version", sa.String(length=20), nullable=False),
        sa.Column(
            "accepted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_licence_acceptances_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licence_acceptances")),
        sa.UniqueConstraint("user_id", "licence_code", "licence_version", name="uq_licence_once"),
    )
    op.create_table(
        "downloads",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("scene_id", sa.String(length=200), nullable=False),
        sa.Column("collection_id", sa.String(length=100), nullable=False),
        sa.Column("asset", sa.String(length=100), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("ranged", sa.Boolean(), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("via IN ('web', 'link')", name=op.f("ck_downloads_via")),
        sa.CheckConstraint("bytes >= 0", name=op.f("ck_downloads_bytes_positive")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_downloads_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_downloads_entity_id_entities"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downloads")),
    )
    op.create_index("ix_downloads_created_at", "downloads", ["created_at"])
    op.create_index("ix_downloads_entity_created", "downloads", ["entity_id", "created_at"])
    op.create_index(op.f("ix_downloads_scene_id"), "downloads", ["scene_id"])
    op.create_index(op.f("ix_downloads_user_id"), "downloads", ["user_id"])


def downgrade() -> None:
    op.drop_table("downloads")
    op.drop_table("licence_acceptances")
