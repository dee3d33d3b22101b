"""The yearly PDFs' footprint map: each footprint, or the area they cover when there are many."""

from __future__ import annotations

import base64
import io
import math

from PIL import Image
from shapely.geometry import Polygon, box

from dinamis.reports import yearly


def test_few_footprints_are_drawn_one_by_one():
    drawn = yearly.footprint_map([box(2, 45, 2.2, 45.2), box(2.1, 45.1, 2.3, 45.3)])
    assert drawn is not None and len(drawn["footprints"]) == 2


def _pixel(drawn, image, lon, lat, bounds):
    """The coverage image's alpha at a point; bounds: minx, maxy, x and y scales."""
    minx, maxy, sx, sy = bounds
    k = yearly.COVERAGE_DENSITY
    return image.getpixel((int((lon - minx) * sx * k), int((maxy - lat) * sy * k)))[3]


def test_many_footprints_are_drawn_as_the_area_they_cover():
    count = yearly.MAX_DRAWN_FOOTPRINTS + 1
    # A strip of overlapping squares, and apart a ring of four with a hole; one
    # polygon with a hole of its own over the strip (only its own area is left out).
    strip = [box(2 + i * 0.001, 45, 2.1 + i * 0.001, 45.1) for i in range(count - 5)]
    ring = [
        box(5, 45, 5.3, 45.1),
        box(5, 45.2, 5.3, 45.3),
        box(5, 45, 5.1, 45.3),
        box(5.2, 45, 5.3, 45.3),
    ]
    holed = Polygon(
        [(2.5, 44.5), (3.5, 44.5), (3.5, 45.5), (2.5, 45.5)],
        [[(2.9, 44.9), (3.1, 44.9), (3.1, 45.1), (2.9, 45.1)]],
    )
    drawn = yearly.footprint_map(strip + ring + [holed])
    assert drawn is not None and drawn["footprints"] == [] and drawn["land"] is not None
    header, data = drawn["coverage"].split(",", 1)
    assert header == "data:image/png;base64"
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    k = yearly.COVERAGE_DENSITY
    assert image.size == (drawn["width"] * k, drawn["height"] * k)
    # The frame: the footprints' bounds padded by 15 % of the larger side (3.3°).
    pad = 3.3 * 0.15
    minx, maxy = 2 - pad, 45.5 + pad
    shrink = math.cos(math.radians(45))
    sx = drawn["width"] / ((5.3 + pad - minx) * shrink) * shrink
    sy = drawn["width"] / ((5.3 + pad - minx) * shrink)
    frame = (minx, maxy, sx, sy)
    assert _pixel(drawn, image, 2.05, 45.05, frame) > 0  # the strip
    assert _pixel(drawn, image, 1.5, 45.05, frame) == 0  # west of it
    assert _pixel(drawn, image, 5.05, 45.15, frame) > 0  # the ring
    assert _pixel(drawn, image, 5.15, 45.15, frame) == 0  # its hole
    assert _pixel(drawn, image, 2.7, 45.3, frame) > 0  # the holed polygon
    assert _pixel(drawn, image, 3.0, 44.95, frame) == 0  # its own hole (south of the strip)
    assert _pixel(drawn, image, 4.5, 45.0, frame) == 0  # between
    assert yearly.footprint_map([]) is None
