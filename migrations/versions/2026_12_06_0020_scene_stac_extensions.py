"""Scenes keep the stac_extensions they were ingested with

An item comes out of the STAC API as it went in: ingest kept its properties but
dropped the extensions it did not know (the file extension, say). The list is
kept as given, in a JSONB column ([] for the scenes ingested before, which get
the API's own eo, view and processing declarations as until now). A constant
default: PostgreSQL adds the column without rewriting the table. Reviewed by hand.

Revision ID: 0020_scene_stac_extensions
Revises: 0019_form_tokens
Create Date: 2026-12-06 23:59:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020_scene_stac_extensions"
down_revision: str | None = "0019_form_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "scenes",
        sa.Column(
            "stac_extensions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("scenes", "stac_extensions")
