"""Deliveries: the measured km² and the reason of a correction

A delivery names a catalogue scene and its km² are measured (the part of the
order's AOI the scene covers, times its stereo group), not typed. The
measured figure is kept beside the charged one; they differ only with a
reason, which the database checks. A scene is delivered once per order.
Rows written before measure nothing: their charged figure is taken as
measured. Reviewed by hand.

Revision ID: 0017_delivery_area
Revises: 0016_scene_boxes
Create Date: 2026-12-06 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_delivery_area"
down_revision: str | None = "0016_scene_boxes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("computed_km2", sa.Numeric(14, 2), nullable=True))
    op.add_column("deliveries", sa.Column("correction_reason", sa.Text(), nullable=True))
    op.execute("UPDATE deliveries SET computed_km2 = km2")
    op.alter_column("deliveries", "computed_km2", nullable=False)
    op.create_check_constraint(
        op.f("ck_deliveries_correction_has_reason"),
        "deliveries",
        "km2 = computed_km2 OR correction_reason IS NOT NULL",
    )
    op.create_unique_constraint("uq_deliveries_scene", "deliveries", ["order_id", "scene_id"])


def downgrade() -> None:
    op.drop_constraint("uq_deliveries_scene", "deliveries", type_="unique")
    op.drop_constraint(op.f("ck_deliveries_correction_has_reason"), "deliveries", type_="check")
    op.drop_column("deliveries", "correction_reason")
    op.drop_column("deliveries", "computed_km2")
