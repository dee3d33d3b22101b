"""How much of an area the catalogue already covers: the union of matching
footprints cut to the area, measured on the ellipsoid (PostGIS geography); for a
search meeting many scenes, the share of a grid of points over the area that some
matching footprint holds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import LargeBinary, Select, bindparam, case, exists, func, literal, select

from dinamis.catalogue import search
from dinamis.catalogue.models import Collection, Scene
from dinamis.core.geo import geodesic_km2
from dinamis.extensions import db

# Up to this many matching footprints, their union is measured (0.17 ms a footprint at
# 200,000 scenes: 2,352 took 0.44 s); beyond, the grid (bench/README.md, "Coverage").
EXACT_UNION_MAX = 500
# About this many points of the grid fall in the area: each is one probe of the spatial
# index (the first matching footprint that holds it ends the probe). The share is
# known to about 1/sqrt(GRID_POINTS) of the area's edge cells: within a percent or two.
GRID_POINTS = 512


@dataclass(frozen=True)
class Coverage:
    aoi_km2: Decimal
    covered_km2: Decimal
    percent: Decimal
    scenes: int | None  # None: not counted (the grid)
    approximate: bool = False  # measured on the grid, not on the union


def coverage(
    aoi: MultiPolygon,
    *,
    sensor_family: str | None = None,
    max_cloud: Decimal | None = None,
    max_incidence: Decimal | None = None,
) -> Coverage:
    """The share of `aoi` covered by catalogue scenes matching the filters."""
    area = from_shape(aoi, srid=4326)
    matching = select(Scene.footprint).where(func.ST_Intersects(Scene.footprint, area))
    if sensor_family:
        matching = matching.join(Collection).where(Collection.sensor_family == sensor_family)
    if max_cloud is not None:
        matching = matching.where(Scene.cloud_cover <= max_cloud)
    if max_incidence is not None:
        matching = matching.where(Scene.incidence_angle <= max_incidence)
    return _measure(aoi, matching)


def for_search(query: search.Query, matched: int | None = None) -> Coverage | None:
    """The coverage of a search's AOI by the scenes the search matches (all its filters);
    None when the search has no area, or one without a surface (a point, a line).

    `matched`: the search's exact number of matches when known; up to EXACT_UNION_MAX
    the union of their footprints is measured, otherwise the grid."""
    if not isinstance(query.intersects, MultiPolygon):
        return None
    if matched is not None and matched <= EXACT_UNION_MAX:
        matching = search.matching(query).with_only_columns(Scene.footprint)
        return _measure(query.intersects, matching)
    return _on_grid(query, query.intersects)


@db.custom_plans()
def _on_grid(query: search.Query, aoi: MultiPolygon) -> Coverage:
    """The share of the grid's points in `aoi` held by a matching footprint, each point
    weighed by the cosine of its latitude (a degree of longitude shrinks northwards)."""
    west, south, east, north = aoi.bounds
    step = math.sqrt(max(aoi.area, 1e-12) / GRID_POINTS)
    area = func.ST_GeomFromWKB(bindparam("aoi_wkb", type_=LargeBinary), 4326)
    columns = max(1, math.ceil((east - west) / step))
    rows = max(1, math.ceil((north - south) / step))
    xs = func.generate_series(0, columns - 1).table_valued("i").render_derived(name="xs")
    ys = func.generate_series(0, rows - 1).table_valued("j").render_derived(name="ys")
    point = func.ST_SetSRID(
        func.ST_MakePoint(west + (xs.c.i + 0.5) * step, south + (ys.c.j + 0.5) * step), 4326
    )
    points = (
        select(point.label("point"))
        .select_from(xs)
        .join(ys, literal(True))
        .where(func.ST_Intersects(point, area))
        .subquery("points")
    )
    weight = func.cos(func.radians(func.ST_Y(points.c.point)))
    held = exists(
        select(literal(1))
        .select_from(Scene)
        .where(func.ST_Intersects(Scene.footprint, points.c.point), *search.filters(query))
    )
    statement: Select[Any] = select(
        func.coalesce(func.sum(weight), 0.0),
        func.coalesce(func.sum(case((held, weight), else_=0.0)), 0.0),
    ).params(**search.params(query), aoi_wkb=aoi.wkb)
    total, covered_weight = db.session.execute(statement).one()
    total_km2 = geodesic_km2(aoi)
    share = Decimal(covered_weight / total) if total else Decimal(0)
    covered = (total_km2 * share).quantize(Decimal("0.01"), ROUND_HALF_UP)
    percent = (share * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return Coverage(total_km2, covered, percent, None, approximate=True)


@db.custom_plans()
def _measure(aoi: MultiPolygon, matching: Select[Any]) -> Coverage:
    area = from_shape(aoi, srid=4326)
    sub = matching.subquery()
    count = db.session.scalar(select(func.count()).select_from(sub)) or 0
    covered_m2 = 0.0
    if count:
        covered_m2 = (
            db.session.scalar(
                select(
                    func.ST_Area(
                        func.Geography(func.ST_Intersection(func.ST_Union(sub.c.footprint), area)),
                        True,
                    )
                )
            )
            or 0.0
        )
    total = geodesic_km2(aoi)
    covered = (Decimal(covered_m2) / Decimal(1_000_000)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    covered = min(covered, total)
    percent = (
        (covered * 100 / total).quantize(Decimal("0.1"), ROUND_HALF_UP) if total else Decimal(0)
    )
    return Coverage(aoi_km2=total, covered_km2=covered, percent=percent, scenes=count)
