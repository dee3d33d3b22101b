"""Scenes by cell, newest first: the walk of a small area or a point (issues 16, 19)

A search with an area walks its sort's index newest first and keeps the rows whose
footprint box meets the area (search.WALK). For a point in a dense region that walk
passes every scene of the world newer than the page: 7,321 index rows for a page of
21 under a point in Toulouse at 1,000,000 generated scenes, where the newest scenes
with no filter read 21. This index files each scene under its cell: the 2° square
holding the south-west corner of its footprint's box, or -100000 for a box wider
or taller than 2° (0.2 % of the generated scenes). A box of at most 2° that meets an
area has its south-west corner at most 2° west and south of the area's, so a small
area's scenes lie in a few cells (four and the wide ones for a point): the search
merges those cells' walks, newest first (search.CELLS): 523 rows for the same page.

The expression is `dinamis.catalogue.models.SCENE_CELL`, written out here as it was
when this migration was made; the box columns are INCLUDEd so that the walk reads
the index alone, as the datetime index's (migration 0016). 110 MB at 1,000,000 scenes
(the database stays below pgstac's for the same items); built in ~7 s there, under a
lock on writes. Reviewed by hand.

Revision ID: 0034_scene_cells
Revises: 0033_scene_row_size
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034_scene_cells"
down_revision: str | None = "0033_scene_row_size"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CELL = (
    "(CASE WHEN fp_east - fp_west <= 2 AND fp_north - fp_south <= 2"
    " THEN (floor(fp_west / 2) * 100 + floor(fp_south / 2))::integer"
    " ELSE -100000 END)"
)


def upgrade() -> None:
    op.create_index(
        "ix_scenes_cell_datetime_id",
        "scenes",
        [sa.text(CELL), "datetime", "id"],
        postgresql_include=["fp_west", "fp_south", "fp_east", "fp_north"],
    )


def downgrade() -> None:
    op.drop_index("ix_scenes_cell_datetime_id", table_name="scenes")
