"""The yearly PDFs' footprint map: each footprint, or the area they cover when there are many."""

from __future__ import annotations

from shapely.geometry import box

from dinamis.reports import yearly


def test_few_footprints_are_drawn_one_by_one():
    drawn = yearly.footprint_map([box(2, 45, 2.2, 45.2), box(2.1, 45.1, 2.3, 45.3)])
    assert drawn is not None and len(drawn["footprints"]) == 2


def test_many_footprints_are_drawn_as_the_area_they_cover():
    count = yearly.MAX_DRAWN_FOOTPRINTS + 1
    # A strip of overlapping squares and one apart: two areas, the second with a hole.
    strip = [box(2 + i * 0.001, 45, 2.1 + i * 0.001, 45.1) for i in range(count - 4)]
    ring = [
        box(5, 45, 5.3, 45.1),
        box(5, 45.2, 5.3, 45.3),
        box(5, 45, 5.1, 45.3),
        box(5.2, 45, 5.3, 45.3),
    ]
    drawn = yearly.footprint_map(strip + ring)
    assert drawn is not None and len(drawn["footprints"]) == 2
    assert sum(d.count("M") for d in drawn["footprints"]) == 3  # two outlines and the hole
    assert yearly.footprint_map([]) is None
