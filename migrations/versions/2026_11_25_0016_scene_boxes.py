"""Scene footprint boxes in the search's sort indexes

Four generated columns hold each footprint's bounding box (PostGIS's box of a
geometry, rounded outwards, so it always contains the footprint), and both
sort indexes of the search (newest first; by cloud cover) carry the box, the
cloud cover and the datetime as INCLUDE columns. A search with an area walks
its sort's index (search._probe): before, every walked row was fetched from
the table to read its datetime and footprint (1,800-3,300 buffers a page for
the Alps sorted by cloud cover at 1,000,000 scenes, and more on later pages
where fewer scenes fall in the box); now the walk is an index-only scan that
skips the rows whose box misses the area, and the table is read for the few
that remain. Adding stored columns rewrites the table (about a minute at a
million scenes); the indexes are rebuilt. Reviewed by hand.

Revision ID: 0016_scene_boxes
Revises: 0015_stats_totals
Create Date: 2026-11-25 19:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_scene_boxes"
down_revision: str | None = "0015_stats_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BOX = {
    "fp_west": "ST_XMin(footprint)",
    "fp_south": "ST_YMin(footprint)",
    "fp_east": "ST_XMax(footprint)",
    "fp_north": "ST_YMax(footprint)",
}


def upgrade() -> None:
    for column, expression in BOX.items():
        op.add_column(
            "scenes",
            sa.Column(column, sa.Double(), sa.Computed(expression, persisted=True), nullable=True),
        )
    op.drop_index("ix_scenes_datetime_id", table_name="scenes")
    op.create_index(
        "ix_scenes_datetime_id",
        "scenes",
        ["datetime", "id"],
        postgresql_include=list(BOX),
    )
    op.drop_index("ix_scenes_cloud_cover_id", table_name="scenes")
    op.create_index(
        "ix_scenes_cloud_cover_id",
        "scenes",
        [sa.text("coalesce(cloud_cover, -1000000)"), "id"],
        postgresql_include=["cloud_cover", "datetime", *BOX],
    )


def downgrade() -> None:
    op.drop_index("ix_scenes_cloud_cover_id", table_name="scenes")
    op.create_index(
        "ix_scenes_cloud_cover_id", "scenes", [sa.text("coalesce(cloud_cover, -1000000)"), "id"]
    )
    op.drop_index("ix_scenes_datetime_id", table_name="scenes")
    op.create_index("ix_scenes_datetime_id", "scenes", ["datetime", "id"])
    for column in reversed(list(BOX)):
        op.drop_column("scenes", column)
