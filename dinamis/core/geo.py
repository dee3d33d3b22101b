"""Geometry enters through this door: parsed, checked, repaired only when
unambiguous, measured on the WGS84 ellipsoid. Orders (AOIs) and the catalogue
(footprints) both use it."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import shapely
from flask_babel import gettext as _
from pyproj import Geod
from shapely import make_valid
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.validation import explain_validity

from dinamis.core.errors import ServiceError

_GEOD = Geod(ellps="WGS84")
MAX_VERTICES = 10_000


def geodesic_km2(geometry: Polygon | MultiPolygon) -> Decimal:
    """Area on the WGS84 ellipsoid in km², exact to 0.01."""
    area_m2, _perimeter = _GEOD.geometry_area_perimeter(geometry)
    return (Decimal(abs(area_m2)) / Decimal(1_000_000)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def parse_aoi(raw: str | dict[str, Any]) -> MultiPolygon:
    """A GeoJSON geometry, Feature or FeatureCollection as one valid MultiPolygon.

    Refuses, with a message that says what is wrong: malformed JSON, other
    geometry types, coordinates out of range, too many vertices, and rings
    that cross themselves (a self-intersecting polygon is ambiguous: we do
    not guess which part was meant).
    """
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise ServiceError(_("The area is not valid GeoJSON: %(e)s.", e=exc.msg)) from None
    if not isinstance(data, dict):
        raise ServiceError(_("The area must be a GeoJSON object."))
    geometries: list[dict[str, Any]] = []
    if data.get("type") == "FeatureCollection":
        geometries = [f.get("geometry") or {} for f in data.get("features") or []]
    elif data.get("type") == "Feature":
        geometries = [data.get("geometry") or {}]
    else:
        geometries = [data]
    polygons: list[Polygon] = []
    for geometry in geometries:
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise ServiceError(
                _("The area must be a polygon, not %(t)s.", t=geometry.get("type") or "nothing")
            )
        _check_rings(geometry)
        try:
            shp = shape(geometry)
        except (ValueError, TypeError, AttributeError, IndexError):
            raise ServiceError(_("The polygon's coordinates are malformed.")) from None
        polygons.extend(shp.geoms if isinstance(shp, MultiPolygon) else [shp])
    if not polygons:
        raise ServiceError(_("Draw or upload an area of interest."))
    aoi = MultiPolygon(polygons)
    if sum(len(p.exterior.coords) + sum(len(r.coords) for r in p.interiors) for p in polygons) > (
        MAX_VERTICES
    ):
        raise ServiceError(_("The area has more than %(n)d vertices.", n=MAX_VERTICES))
    minx, miny, maxx, maxy = aoi.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise ServiceError(
            _("Coordinates must be longitude (-180 to 180) then latitude (-90 to 90), in degrees.")
        )
    if not aoi.is_valid:
        reason = explain_validity(aoi)
        if "Self-intersection" in reason or "Ring Self-intersection" in reason:
            raise ServiceError(
                _("The polygon crosses itself (%(r)s); redraw it without crossing edges.", r=reason)
            )
        repaired = make_valid(aoi)
        # Only unambiguous repairs are kept: the same area, still polygons.
        parts = [g for g in getattr(repaired, "geoms", [repaired]) if isinstance(g, Polygon)]
        if not parts or abs(MultiPolygon(parts).area - aoi.area) > 1e-9 * max(aoi.area, 1e-12):
            raise ServiceError(_("The polygon is not valid (%(r)s).", r=reason))
        aoi = MultiPolygon(parts)
    if aoi.is_empty or aoi.area == 0:
        raise ServiceError(_("The area of interest is empty."))
    return aoi


def _check_rings(geometry: dict[str, Any]) -> None:
    """GeoJSON rings are closed (the last position repeats the first) and have 4+ positions."""
    coordinates = geometry.get("coordinates")
    polygons = coordinates if geometry.get("type") == "MultiPolygon" else [coordinates]
    if not isinstance(polygons, list):
        return  # shapely reports malformed coordinates
    for polygon in polygons:
        for ring in polygon if isinstance(polygon, list) else []:
            if not isinstance(ring, list) or not ring:
                continue
            if not all(isinstance(p, list | tuple) for p in (ring[0], ring[-1])):
                continue  # malformed positions: shapely says so
            if len(ring) < 4 or list(ring[0]) != list(ring[-1]):
                raise ServiceError(
                    _(
                        "The polygon is not closed: a ring needs at least four positions, "
                        "the last repeating the first."
                    )
                )


def to_geojson(geometry: MultiPolygon) -> dict[str, Any]:
    return dict(mapping(geometry))


def _shift_east(polygon: Polygon) -> Polygon:
    def move(coords: Any) -> list[tuple[float, float]]:
        return [(x + 360 if x < 0 else x, y) for x, y, *_ in coords]

    return Polygon(move(polygon.exterior.coords), [move(r.coords) for r in polygon.interiors])


def split_antimeridian(geometry: MultiPolygon) -> MultiPolygon:
    """A footprint whose longitudes jump across ±180° is cut in two at the antimeridian,
    instead of being read as a polygon around the whole world."""
    from shapely.affinity import translate
    from shapely.geometry import box

    parts: list[Polygon] = []
    for polygon in geometry.geoms:
        minx, _miny, maxx, _maxy = polygon.bounds
        if maxx - minx <= 180:
            parts.append(polygon)
            continue
        shifted = _shift_east(polygon)
        west = shifted.intersection(box(-180, -90, 180, 90))
        east = translate(shifted.intersection(box(180, -90, 540, 90)), xoff=-360)
        for piece in (west, east):
            parts.extend(
                g
                for g in getattr(piece, "geoms", [piece])
                if isinstance(g, Polygon) and not g.is_empty
            )
    return MultiPolygon(parts)


def parse_footprint(raw: str | dict[str, Any]) -> MultiPolygon:
    """A scene footprint: like an AOI, and split at the antimeridian when it crosses it.

    A valid footprint (the bulk of an ingest) is read once; anything else goes
    through `parse_aoi`, which repairs what it can and says what is wrong.
    """
    data = json.loads(raw) if isinstance(raw, str) else raw
    if isinstance(data, dict) and data.get("type") in ("Polygon", "MultiPolygon"):
        _check_rings(data)
        try:
            crude = shape(data)
        except (ValueError, TypeError, AttributeError, IndexError):
            return parse_aoi(data)  # says what is malformed
        polygons = list(getattr(crude, "geoms", [crude]))
        if any(p.bounds[2] - p.bounds[0] > 180 for p in polygons):
            return split_antimeridian(MultiPolygon(polygons))
        footprint = crude if isinstance(crude, MultiPolygon) else MultiPolygon(polygons)
        minx, miny, maxx, maxy = footprint.bounds
        if (
            -180 <= minx <= maxx <= 180
            and -90 <= miny <= maxy <= 90
            and shapely.get_num_coordinates(footprint) <= MAX_VERTICES
            and footprint.is_valid
            and footprint.area > 0
        ):
            return footprint
    return parse_aoi(data)
