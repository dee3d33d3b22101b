"""Alert matches told up to a mark per saved search, not a notice per match

A digest marked every match it told (`alert_matches.notice_id`): at 10,000 saved
searches, 610,783 rows updated in one statement, each a new row version and two
index entries (bench/alerts: half of the digest's database time). A saved search
now keeps the id of the last match told (`told_through`): the matches after it
wait for the next message, and a digest moves the mark, one row per search.
Matches are written in id order by one matcher at a time (the alerts' lock), so
the mark says the same as the notices did. The partial index of the untold
matches becomes an index of every match by search and id (the range after the
mark). Existing rows: the mark is the last match a notice told. Reviewed by hand.

Revision ID: 0036_alert_told_through
Revises: 0035_yearly_pdfs
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036_alert_told_through"
down_revision: str | None = "0035_yearly_pdfs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "saved_searches",
        sa.Column("told_through", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        "UPDATE saved_searches s SET told_through = t.last FROM ("
        " SELECT saved_search_id, max(id) AS last FROM alert_matches"
        " WHERE notice_id IS NOT NULL GROUP BY saved_search_id) t"
        " WHERE t.saved_search_id = s.id"
    )
    op.drop_index("ix_alert_matches_pending", table_name="alert_matches")
    op.drop_column("alert_matches", "notice_id")
    op.create_index("ix_alert_matches_search", "alert_matches", ["saved_search_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_alert_matches_search", table_name="alert_matches")
    op.add_column("alert_matches", sa.Column("notice_id", sa.BigInteger(), nullable=True))
    # The matches up to the mark: told by the search's latest notice.
    op.execute(
        "UPDATE alert_matches m SET notice_id = ("
        " SELECT max(n.id) FROM alert_notices n WHERE n.saved_search_id = m.saved_search_id)"
        " FROM saved_searches s WHERE s.id = m.saved_search_id AND m.id <= s.told_through"
    )
    op.create_index(
        "ix_alert_matches_pending",
        "alert_matches",
        ["saved_search_id", "id"],
        postgresql_where=sa.text("notice_id IS NULL"),
    )
    op.drop_column("saved_searches", "told_through")
