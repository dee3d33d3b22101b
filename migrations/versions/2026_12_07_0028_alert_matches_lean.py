"""Alert matches without per-row key checks

The matcher writes every (saved search, new scene) pair of an ingest batch in one
statement: at 10,000 saved searches, hundreds of thousands of rows per batch of
20,000 scenes (bench/alerts). The foreign keys on `scene_id` and `notice_id`
(and their indexes) cost a check and an index entry per row, more than the row
itself; they go. A scene deleted since is skipped by the joins that read the
matches; a notice is only ever deleted with its saved search, whose matches go
with it (the key on `saved_search_id` stays). Reviewed by hand.

Revision ID: 0028_alert_matches_lean
Revises: 0027_ledger_order_link
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0028_alert_matches_lean"
down_revision: str | None = "0027_ledger_order_link"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("fk_alert_matches_scene_id_scenes", "alert_matches", type_="foreignkey")
    op.drop_constraint(
        "fk_alert_matches_notice_id_alert_notices", "alert_matches", type_="foreignkey"
    )
    op.drop_index("ix_alert_matches_scene_id", table_name="alert_matches")
    op.drop_index("ix_alert_matches_notice_id", table_name="alert_matches")


def downgrade() -> None:
    op.execute(
        "DELETE FROM alert_matches m WHERE NOT EXISTS (SELECT FROM scenes s WHERE s.id = m.scene_id)"
    )
    op.execute(
        "UPDATE alert_matches m SET notice_id = NULL WHERE notice_id IS NOT NULL"
        " AND NOT EXISTS (SELECT FROM alert_notices n WHERE n.id = m.notice_id)"
    )
    op.create_index("ix_alert_matches_notice_id", "alert_matches", ["notice_id"])
    op.create_index("ix_alert_matches_scene_id", "alert_matches", ["scene_id"])
    op.create_foreign_key(
        "fk_alert_matches_notice_id_alert_notices",
        "alert_matches",
        "alert_notices",
        ["notice_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        "fk_alert_matches_scene_id_scenes",
        "alert_matches",
        "scenes",
        ["scene_id"],
        ["id"],
        ondelete="CASCADE",
    )
