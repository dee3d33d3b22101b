"""How much of an area the catalogue already covers: the union of matching
footprints cut to the area, measured on the ellipsoid (PostGIS geography)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import Select, func, select

from dinamis.catalogue import search
from dinamis.catalogue.models import Collection, Scene
from dinamis.core.geo import geodesic_km2
from dinamis.extensions import db


@dataclass(frozen=True)
class Coverage:
    aoi_km2: Decimal
    covered_km2: Decimal
    percent: Decimal
    scenes: int


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


def for_search(query: search.Query) -> Coverage | None:
    """The coverage of a search's AOI by the scenes the search matches (all its filters);
    None when the search has no area, or one without a surface (a point, a line)."""
    if not isinstance(query.intersects, MultiPolygon):
        return None
    matching = search.matching(query).with_only_columns(Scene.footprint)
    return _measure(query.intersects, matching)


@db.custom_plans()
def _measure(aoi: MultiPolygon, matching: Select[tuple[Any]]) -> Coverage:
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
