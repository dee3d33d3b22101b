"""Collections and legal documents in both languages

Staff enter a collection's title and a document's title and text in English
(the STAC API's language, `title` and `body`) and in French (`title_fr`,
`body_fr`); the portal shows the reader's. Rows written before have no French
yet: NULL, shown in English until staff give it (the seed does for its own).
Reviewed by hand.

Revision ID: 0021_french_titles
Revises: 0020_scene_stac_extensions
Create Date: 2026-12-07 00:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_french_titles"
down_revision: str | None = "0020_scene_stac_extensions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("collections", sa.Column("title_fr", sa.String(200), nullable=True))
    op.add_column("legal_documents", sa.Column("title_fr", sa.String(200), nullable=True))
    op.add_column("legal_documents", sa.Column("body_fr", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("legal_documents", "body_fr")
    op.drop_column("legal_documents", "title_fr")
    op.drop_column("collections", "title_fr")
