"""Geometry enters through this door: parsed, checked, repaired only when
unambiguous, measured on the WGS84 ellipsoid. Orders (AOIs) and the catalogue
(footprints) both use it."""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import shapely
from flask_babel import LazyString
from flask_babel import gettext as _
from pyproj import Geod
from shapely import make_valid
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from dinamis.core.boundary import parse_json
from dinamis.core.errors import ServiceError
from dinamis.core.formats import number as format_number

_GEOD = Geod(ellps="WGS84")
MAX_VERTICES = 10_000


def geodesic_km2(geometry: BaseGeometry) -> Decimal:
    """Area on the WGS84 ellipsoid in km², exact to 0.01."""
    area_m2, _perimeter = _GEOD.geometry_area_perimeter(geometry)
    return (Decimal(abs(area_m2)) / Decimal(1_000_000)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def size_error(
    area: Decimal, minimum: Decimal, maximum: Decimal, messages: tuple[LazyString, LazyString]
) -> str | None:
    """What is wrong with an area of interest of `area` km² that must cover `minimum` to
    `maximum` km², or None: one of `messages` (too small with %(area)s and %(min)s, too
    large with %(area)s and %(max)s), each order's and product's own words."""
    too_small, too_large = messages
    if area < minimum:
        return str(too_small) % {"area": format_number(area), "min": format_number(minimum)}
    if area > maximum:
        return str(too_large) % {"area": format_number(area), "max": format_number(maximum)}
    return None


# What Shapely's `shape` raises for a GeoJSON geometry it cannot read (no
# coordinates, wrong nesting, non-numbers, a number too large for a double).
MALFORMED = (KeyError, ValueError, TypeError, AttributeError, IndexError, OverflowError)


def _reason_point(reason: str) -> str:
    """The point of a GEOS validity reason as "longitude, latitude"."""
    found = re.search(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)", reason)
    if not found:
        return "?"
    lon, lat = (float(v) for v in found.groups())
    return f"{lon:.5g}, {lat:.5g}"


# The names of WGS 84 longitude/latitude an older GeoJSON (2008) may give as its `crs`.
_WGS84_NAMES = re.compile(
    r"(?i)^(?:urn:ogc:def:crs:(?:OGC:1\.3:|OGC::)CRS84|EPSG:4326"
    r"|urn:ogc:def:crs:EPSG:[\d.]*:4326|https?://www\.opengis\.net/def/crs/OGC/1\.3/CRS84"
    r"|https?://www\.opengis\.net/def/crs/EPSG/0/4326)$"
)


def _check_crs(crs: Any) -> None:
    """Refuse a GeoJSON that names another coordinate system than WGS 84 longitude/latitude
    (RFC 7946 has none; its numbers would be read as degrees somewhere else on Earth)."""
    if crs is None:
        return
    properties = crs.get("properties") if isinstance(crs, dict) else None
    name = properties.get("name") if isinstance(properties, dict) else None
    if isinstance(name, str) and _WGS84_NAMES.match(name.strip()):
        return
    raise ServiceError(
        _(
            "The area is in the coordinate system %(crs)s: give it in longitude and latitude"
            " degrees (WGS 84), as GeoJSON is.",
            crs=str(name)[:100] if name else "?",
        )
    )


def parse_aoi(raw: str | dict[str, Any]) -> MultiPolygon:
    """A GeoJSON geometry, Feature or FeatureCollection as one valid MultiPolygon.

    Refuses, with a message that says what is wrong: malformed JSON, other
    geometry types, coordinates out of range, too many vertices, and rings
    that cross themselves (a self-intersecting polygon is ambiguous: we do
    not guess which part was meant).
    """
    try:
        data = parse_json(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        # The parser's own words are English ("Expecting ',' delimiter"): say where instead.
        raise ServiceError(
            _(
                "The area is not valid GeoJSON (line %(line)d, column %(col)d).",
                line=exc.lineno,
                col=exc.colno,
            )
        ) from None
    if not isinstance(data, dict):
        raise ServiceError(_("The area must be a GeoJSON object."))
    _check_crs(data.get("crs"))
    geometries: list[Any] = []
    if data.get("type") == "FeatureCollection":
        features = data.get("features")
        features = features if isinstance(features, list) else []
        geometries = [f.get("geometry") if isinstance(f, dict) else None for f in features]
    elif data.get("type") == "Feature":
        geometries = [data.get("geometry")]
    else:
        geometries = [data]
    polygons: list[Polygon] = []
    for geometry in geometries:
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if not isinstance(geometry, dict) or not kind:
            raise ServiceError(_("The area must be a polygon; this one has no geometry type."))
        if kind not in ("Polygon", "MultiPolygon"):
            raise ServiceError(_("The area must be a polygon, not %(t)s.", t=kind))
        _check_rings(geometry)
        try:
            # A third value (height, as GPS tools write) is dropped: areas are on the ellipsoid.
            shp = shapely.force_2d(shape(geometry))
        except MALFORMED:
            raise ServiceError(_("The polygon's coordinates are malformed.")) from None
        if isinstance(shp, MultiPolygon):
            polygons.extend(shp.geoms)
        elif isinstance(shp, Polygon):
            polygons.append(shp)
    if not polygons:
        raise ServiceError(_("Draw or upload an area of interest."))
    polygons = _across_antimeridian(polygons)
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
        # GEOS explains in English ("Self-intersection[2.5 45.5]"): only its point is kept.
        where = _reason_point(reason)
        if "Self-intersection" in reason or "Ring Self-intersection" in reason:
            raise ServiceError(
                _(
                    "The polygon crosses itself near %(point)s; redraw it without crossing edges.",
                    point=where,
                )
            )
        repaired = make_valid(aoi)
        # Only unambiguous repairs are kept: the same area, still polygons.
        parts = [g for g in getattr(repaired, "geoms", [repaired]) if isinstance(g, Polygon)]
        if not parts or abs(MultiPolygon(parts).area - aoi.area) > 1e-9 * max(aoi.area, 1e-12):
            raise ServiceError(_("The polygon is not valid near %(point)s.", point=where))
        aoi = MultiPolygon(parts)
    if aoi.is_empty or aoi.area == 0:
        raise ServiceError(_("The area of interest is empty."))
    return aoi


def _check_positions(ring: list[Any]) -> None:
    """Every position of a ring is in range, as finite numbers.

    Checked before Shapely reads them: an integer too large for a double would
    raise OverflowError there, and NaN or Infinity would only show later as a
    ring that does not close.
    """
    for position in ring:
        if not isinstance(position, list | tuple) or len(position) < 2:
            continue  # malformed: shapely says so
        x, y = position[0], position[1]
        if any(isinstance(n, bool) for n in position):  # Shapely would read true as 1
            raise ServiceError(_("Coordinates must be numbers, not true or false."))
        if not all(isinstance(n, int | float) for n in (x, y)):
            continue  # malformed: shapely says so
        if any(isinstance(n, float) and not math.isfinite(n) for n in (x, y)):
            raise ServiceError(_("Coordinates must be finite numbers (not NaN or Infinity)."))
        if not (-180 <= x <= 180 and -90 <= y <= 90):
            raise ServiceError(
                _(
                    "Coordinates must be longitude (-180 to 180) then latitude (-90 to 90), "
                    "in degrees."
                )
            )


def _check_rings(geometry: dict[str, Any]) -> None:
    """GeoJSON rings are closed (the last position repeats the first) and have 4+ positions,
    of coordinates in range."""
    coordinates = geometry.get("coordinates")
    polygons = coordinates if geometry.get("type") == "MultiPolygon" else [coordinates]
    if not isinstance(polygons, list):
        return  # shapely reports malformed coordinates
    for polygon in polygons:
        for ring in polygon if isinstance(polygon, list) else []:
            if not isinstance(ring, list) or not ring:
                continue
            _check_positions(ring)
            if not all(isinstance(p, list | tuple) for p in (ring[0], ring[-1])):
                continue  # malformed positions: shapely says so
            if len(ring) < 4 or list(ring[0])[:2] != list(ring[-1])[:2]:
                raise ServiceError(
                    _(
                        "The polygon is not closed: a ring needs at least four positions, "
                        "the last repeating the first."
                    )
                )


def to_geojson(geometry: BaseGeometry) -> dict[str, Any]:
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


def _across_antimeridian(polygons: list[Polygon]) -> list[Polygon]:
    """AOIs follow the footprints' rule (RFC 7946): a polygon wider than 180° of
    longitude crosses the antimeridian and is cut in two there.

    So what is stored, drawn and charged is the same area: the geodesic area of
    a ring from 179.9° to -179.9° is the short way, and its planar reading a band
    around the globe. A ring that spans more than 180° even read across the
    antimeridian goes the long way round: ambiguous, refused.
    """
    if all(p.bounds[2] - p.bounds[0] <= 180 for p in polygons):
        return polygons
    result: list[Polygon] = []
    for polygon in polygons:
        west, _south, east, _north = polygon.bounds
        # Within ±180° by design, or reaching both -180° and 180° (the whole
        # circle, say the world for a search): read as drawn.
        if east - west <= 180 or (west == -180 and east == 180):
            result.append(polygon)
            continue
        shifted = _shift_east(polygon)
        if shifted.bounds[2] - shifted.bounds[0] > 180:
            raise ServiceError(
                _(
                    "The area spans more than 180° of longitude: draw it smaller, or as "
                    "two polygons on either side of the antimeridian (±180°)."
                )
            )
        if not shifted.is_valid:
            raise ServiceError(
                _(
                    "The polygon crosses itself near %(point)s; redraw it without crossing edges.",
                    point=_reason_point(explain_validity(shifted)),
                )
            )
        result.extend(split_antimeridian(MultiPolygon([polygon])).geoms)
    return result


def parse_footprint(raw: str | dict[str, Any]) -> MultiPolygon:
    """A scene footprint: like an AOI, and split at the antimeridian when it crosses it.

    A valid footprint (the bulk of an ingest) is read once; anything else goes
    through `parse_aoi`, which repairs what it can and says what is wrong.
    """
    data = parse_json(raw) if isinstance(raw, str) else raw
    if isinstance(data, dict) and data.get("type") in ("Polygon", "MultiPolygon"):
        _check_rings(data)
        try:
            crude = shapely.force_2d(shape(data))
        except MALFORMED:
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


def _plain_rings(data: Any) -> list[list[list[Any]]] | None:
    """The polygons of a footprint whose reading cannot go wrong, else None.

    Plain means: a Polygon or MultiPolygon of closed rings of 4+ positions, each
    position two JSON numbers within longitude and latitude range, and no polygon
    wider than 180°. Such a footprint needs no repair message and no split at the
    antimeridian; only its validity and area remain to check.
    """
    if type(data) is not dict:
        return None
    kind = data.get("type")
    polygons: Any
    if kind == "Polygon":
        polygons = [data.get("coordinates")]
    elif kind == "MultiPolygon":
        polygons = data.get("coordinates")
        if type(polygons) is not list or not polygons:
            return None
    else:
        return None
    for polygon in polygons:
        if type(polygon) is not list or not polygon:
            return None
        west, east = 180.0, -180.0
        for ring in polygon:
            if type(ring) is not list or len(ring) < 4 or ring[0] != ring[-1]:
                return None
            for position in ring:
                if type(position) is not list or len(position) != 2:
                    return None
                x, y = position
                # bool is an int, and a huge int would not fit a double: neither is plain
                if (type(x) is not float and (type(x) is not int or not -181 < x < 181)) or (
                    type(y) is not float and (type(y) is not int or not -91 < y < 91)
                ):
                    return None
                if not (-180 <= x <= 180 and -90 <= y <= 90):
                    return None
                if x < west:
                    west = x
                if x > east:
                    east = x
        if east - west > 180:
            return None
    plain: list[list[list[Any]]] = polygons
    return plain


def parse_footprints(raws: Sequence[Any]) -> list[MultiPolygon | ServiceError]:
    """`parse_footprint` of many footprints at once: the same geometries, the same errors.

    The plain ones (see `_plain_rings`: the bulk of an ingest) are built and
    checked as one array with Shapely's vectorised functions; any other, or a
    plain one that is invalid or empty, goes through `parse_footprint`, which
    repairs it or says what is wrong (the error is returned in its place).
    """
    results: list[MultiPolygon | ServiceError | None] = [None] * len(raws)
    plain: list[int] = []
    positions: list[list[Any]] = []
    ring_ends: list[int] = [0]
    polygon_ends: list[int] = [0]
    part_ends: list[int] = [0]
    for index, raw in enumerate(raws):
        polygons = _plain_rings(raw)
        if polygons is None or sum(len(r) for p in polygons for r in p) > MAX_VERTICES:
            continue
        plain.append(index)
        for polygon in polygons:
            for ring in polygon:
                positions.extend(ring)
                ring_ends.append(len(positions))
            polygon_ends.append(len(ring_ends) - 1)
        part_ends.append(len(polygon_ends) - 1)
    if plain:
        geometries = shapely.from_ragged_array(
            shapely.GeometryType.MULTIPOLYGON,
            np.array(positions, dtype=np.float64),
            (
                np.array(ring_ends, dtype=np.int64),
                np.array(polygon_ends, dtype=np.int64),
                np.array(part_ends, dtype=np.int64),
            ),
        )
        good = shapely.is_valid(geometries) & (shapely.area(geometries) > 0)
        for index, geometry, ok in zip(plain, geometries, good, strict=True):
            if ok:
                results[index] = geometry
    for index, found in enumerate(results):
        if found is None:
            try:
                results[index] = parse_footprint(raws[index])
            except ServiceError as error:
                results[index] = error
    return results  # type: ignore[return-value]


def polygons(geometry: Any) -> MultiPolygon:
    """The polygons of a geometry (an intersection may add lines and points), as one."""
    parts = [g for g in getattr(geometry, "geoms", [geometry]) if isinstance(g, Polygon)]
    return MultiPolygon(parts)


def _count(data: bytes, order: str, offset: int) -> tuple[int, int]:
    """The number of parts, rings or points (E)WKB gives at `offset`, and the offset after it."""
    (number,) = struct.unpack_from(order + "I", data, offset)
    return number, offset + 4


def _ewkb_polygons(data: bytes) -> list[list[list[tuple[float, float]]]] | None:
    """The polygons of a 2-D MultiPolygon in (E)WKB, rings of coordinate tuples; else None."""
    if len(data) < 9:
        return None
    order = "<" if data[0] == 1 else ">"
    (kind,) = struct.unpack_from(order + "I", data, 1)
    offset = 5
    if kind & 0x20000000:  # EWKB: an SRID follows the type
        kind &= ~0x20000000
        offset += 4
    if kind != 6:
        return None  # Z or M dimensions, or another type: not for this reader
    parts, offset = _count(data, order, offset)
    if parts == 0:
        return None
    polygons = []
    for _part in range(parts):
        if data[offset] != data[0] or struct.unpack_from(order + "I", data, offset + 1)[0] != 3:
            return None
        offset += 5
        ring_count, offset = _count(data, order, offset)
        if ring_count == 0:
            return None
        rings = []
        for _ring in range(ring_count):
            points, offset = _count(data, order, offset)
            if points == 0:
                return None
            values = iter(struct.unpack_from(f"{order}{2 * points}d", data, offset))
            offset += 16 * points
            rings.append(list(zip(values, values, strict=True)))
        polygons.append(rings)
    if offset != len(data):
        return None
    return polygons


def geojson_and_bbox(data: bytes) -> tuple[dict[str, Any], list[float]]:
    """The GeoJSON geometry and bbox of a stored footprint (EWKB), read without Shapely.

    The same as `mapping(geometry)` and `list(geometry.bounds)` give (the bounds
    of a polygon are its shell's, as in GEOS), at a fraction of their cost; any
    geometry this reader does not expect goes through Shapely instead.
    """
    polygons = _ewkb_polygons(data)
    if polygons is None:
        geometry = shapely.from_wkb(data)
        return dict(mapping(geometry)), list(geometry.bounds)
    xs = [x for rings in polygons for x, _y in rings[0]]
    ys = [y for rings in polygons for _x, y in rings[0]]
    coordinates = [tuple(tuple(ring) for ring in rings) for rings in polygons]
    return {"type": "MultiPolygon", "coordinates": coordinates}, [
        min(xs),
        min(ys),
        max(xs),
        max(ys),
    ]
