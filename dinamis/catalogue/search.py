"""Scene search: the filters the portal and the STAC API share, with keyset pages."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import numpy
import shapely
from flask_babel import gettext as _
from shapely.geometry import GeometryCollection, MultiPolygon, box, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Integer,
    LargeBinary,
    Select,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.exc import DataError, InternalError, ProgrammingError, SQLAlchemyError

from dinamis.catalogue import cql2
from dinamis.catalogue.models import BIG_CELL, CELL_DEGREES, SCENE_CELL, Collection, Scene
from dinamis.catalogue.queryables import QUERYABLES, SORTABLE, Queryable, lookup
from dinamis.core.boundary import parse_json
from dinamis.core.dates import instant
from dinamis.core.errors import BadRequest, MalformedInput, ServiceError
from dinamis.core.geo import MALFORMED, MAX_VERTICES, parse_aoi
from dinamis.extensions import db

MAX_LIMIT = 1000
# Counting every match of a broad search costs more than the page: beyond this,
# the portal gives an estimate (Page.about).
MATCH_CAP = 10_000
# The portal counts the matches (up to MATCH_CAP) when the estimate expects fewer than
# this; above, it gives the estimate: a count of 10,000 spatial matches takes 0.1-1 s.
COUNT_BELOW = 2_500
MAX_SORT_KEYS = 5
LOWEST_NUMBER = -1_000_000
# A walk of a sort's index (see `choose`) passes at least this many rows before it gives
# way to the area-first plan; the sorts that have an index (migrations 0010 and 0014).
PROBE_ROWS = 5_000
PROBED = ("datetime", "eo:cloud_cover")
# The footprint's bounding box (generated columns, in the sort indexes).
BOX_COLUMNS = (Scene.fp_west, Scene.fp_south, Scene.fp_east, Scene.fp_north)
# What a STAC page reads of a scene, as plain rows (no ORM objects to build): every
# column but updated_at and the box, and its collection's access rule (`collection_access`,
# `collection_profiles`: catalogue.permissions.may_download), read in the page's own
# statement rather than by a second one. The rows answer the same attribute names as a Scene.
_RULE = Collection.__table__.alias("rule")
ROW_COLUMNS = (
    *(
        getattr(Scene, column.key)
        for column in Scene.__table__.columns
        if column.key != "updated_at" and not column.key.startswith("fp_")
    ),
    *(
        select(_RULE.c[name])
        .where(_RULE.c.id == Scene.collection_id)
        .scalar_subquery()
        .label(f"collection_{name}")
        for name in ("access", "profiles")
    ),
)


@dataclass
class Query:
    bbox: tuple[float, float, float, float] | None = None
    intersects: BaseGeometry | None = None  # any GeoJSON geometry type
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    ids: list[str] = field(default_factory=list)
    collections: list[str] = field(default_factory=list)
    max_cloud: Decimal | None = None
    max_incidence: Decimal | None = None
    levels: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    stereo_only: bool = False
    filter: ColumnElement[bool] | None = None  # CQL2, already checked against the queryables
    sortby: list[tuple[Queryable, bool]] = field(default_factory=list)  # (property, descending)
    limit: int = 10
    after: list[Any] | None = None  # keyset: the sort values and id of the previous page's last
    # A `prev` page: the rows before `after` (the next page's first), read in the
    # reverse order and given back in the sort's.
    backward: bool = False

    @property
    def sort(self) -> list[tuple[Queryable, bool]]:
        """The sort, always ending with the id so that pages never overlap or skip."""
        keys = list(self.sortby or [(QUERYABLES["datetime"], True)])
        if not any(q.name == "id" for q, _desc in keys):
            keys.append((QUERYABLES["id"], keys[-1][1]))
        return keys

    @property
    def order(self) -> list[tuple[Queryable, bool]]:
        """The order the rows are read in: the sort, reversed for a `prev` page."""
        return [(q, desc != self.backward) for q, desc in self.sort]

    @property
    def signature(self) -> str:
        return ",".join(("-" if desc else "+") + q.name for q, desc in self.sort)


def parse_datetime(value: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A STAC datetime: an RFC 3339 instant, or an interval with `..` (or nothing) for
    one open end, never both."""
    try:
        if "/" in value:
            first, _sep, last = value.partition("/")
            start = None if first in ("", "..") else instant(first)
            end = None if last in ("", "..") else instant(last)
            if start is None and end is None:
                raise ValueError(value)
        else:
            start = end = instant(value)
    except ValueError:
        raise BadRequest(
            _(
                "datetime must be an RFC 3339 date-time such as 2024-05-01T00:00:00Z, or an"
                " interval start/end with .. for one open end."
            )
        ) from None
    if start and end and end < start:
        raise BadRequest(_("The interval ends before it starts."))
    return start, end


def _bbox_refused() -> BadRequest:
    return BadRequest(
        _(
            "bbox must be four numbers (west,south,east,north) or six "
            "(west,south,lowest,east,north,highest)."
        )
    )


def parse_bbox(value: Any, body: bool = False) -> tuple[float, float, float, float]:
    """`west,south,east,north` (GET) or a list of four or six numbers (`body`: POST JSON)."""
    if body:
        if not isinstance(value, list) or any(
            isinstance(v, bool) or not isinstance(v, int | float) for v in value
        ):
            raise _bbox_refused()
        items: Any = value
    else:
        items = value.split(",") if isinstance(value, str) else value
    try:
        numbers = [float(v) for v in items]
    except (TypeError, ValueError, OverflowError):
        raise _bbox_refused() from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise _bbox_refused()
    west, south, east, north = numbers
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise BadRequest(_("bbox is out of range or upside down."))
    return west, south, east, north


# GeoJSON geometry types and how deep their coordinates nest.
POSITION_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2}
# A GeometryCollection's members may be collections, but not deeper than this.
MAX_COLLECTION_DEPTH = 4


def _positions(coordinates: Any, depth: int) -> list[Any]:
    """The positions of a (Multi)Point or (Multi)LineString's coordinates, checked."""
    found: list[Any] = []
    pending = [(coordinates, depth)]
    while pending:
        node, level = pending.pop()
        if not isinstance(node, list):
            raise BadRequest(_("intersects: the geometry's coordinates are malformed."))
        if level == 0:
            found.append(node)
            if len(found) > MAX_VERTICES:
                raise BadRequest(
                    _("intersects: the geometry has more than %(n)d vertices.", n=MAX_VERTICES)
                )
        else:
            pending.extend((child, level - 1) for child in node)
    for position in found:
        numbers = position[:2]
        if (
            len(position) < 2
            or len(position) > 3
            or any(isinstance(n, bool) or not isinstance(n, int | float) for n in position)
        ):
            raise BadRequest(_("intersects: a position must be [longitude, latitude]."))
        x, y = float(numbers[0]), float(numbers[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise BadRequest(_("Coordinates must be finite numbers (not NaN or Infinity)."))
        if not (-180 <= x <= 180 and -90 <= y <= 90):
            raise BadRequest(
                _(
                    "Coordinates must be longitude (-180 to 180) then latitude (-90 to 90), "
                    "in degrees."
                )
            )
    return found


def parse_area(raw: Any, depth: int = 0) -> BaseGeometry:
    """A search area: any GeoJSON geometry (STAC `intersects`), as a Shapely geometry.

    Polygons follow the AOI rules (`parse_aoi`: closed rings, no crossing edges);
    points and lines only need well-formed positions within range. A point on a
    footprint's edge intersects it (PostGIS's ST_Intersects counts the boundary).
    """
    try:
        data = parse_json(raw) if isinstance(raw, str) else raw
    except MalformedInput as exc:  # nested too deep, a NUL character
        raise BadRequest(f"intersects: {exc.message}") from None
    except ValueError:
        raise BadRequest(_("intersects must be a GeoJSON geometry.")) from None
    kind = data.get("type") if isinstance(data, dict) else None
    if kind in ("Polygon", "MultiPolygon", "Feature", "FeatureCollection"):
        try:
            return parse_aoi(data)
        except ServiceError as exc:  # the AOI rules speak of fields; a search is one request
            raise BadRequest(f"intersects: {exc.message}") from None
    if kind == "GeometryCollection":
        members = data.get("geometries")
        if not isinstance(members, list) or not members or depth >= MAX_COLLECTION_DEPTH:
            raise BadRequest(_("intersects: a GeometryCollection needs a list of geometries."))
        parts = [parse_area(member, depth + 1) for member in members]
        if sum(shapely.get_num_coordinates(p) for p in parts) > MAX_VERTICES:
            raise BadRequest(
                _("intersects: the geometry has more than %(n)d vertices.", n=MAX_VERTICES)
            )
        return GeometryCollection(parts)
    if kind not in POSITION_DEPTH:
        raise BadRequest(
            _(
                "intersects must be a GeoJSON geometry (Point, MultiPoint, LineString,"
                " MultiLineString, Polygon, MultiPolygon or GeometryCollection)."
            )
        )
    _positions(data.get("coordinates"), POSITION_DEPTH[kind])
    try:
        geometry = shapely.force_2d(shape({"type": kind, "coordinates": data["coordinates"]}))
    except (*MALFORMED, shapely.errors.ShapelyError):
        raise BadRequest(_("intersects: the geometry's coordinates are malformed.")) from None
    if geometry.is_empty:
        raise BadRequest(_("intersects: the geometry is empty."))
    return geometry


def _sort_expression(queryable: Queryable) -> Any:
    """What is sorted: NULLs become the lowest value, so the keyset can compare them.

    The number is written into the SQL, not bound: the expression is then the
    one of the index (migration 0014) and the same wherever it appears.
    """
    if not queryable.nullable:
        return queryable.column
    if queryable.kind == "number":
        return func.coalesce(queryable.column, literal_column(str(LOWEST_NUMBER)))
    return func.coalesce(queryable.column, "")


def _order_by(query: Query) -> list[Any]:
    return [
        _sort_expression(q).desc() if desc else _sort_expression(q).asc() for q, desc in query.order
    ]


def _key_value(scene: Any, queryable: Queryable) -> Any:
    value = getattr(scene, queryable.column.key)
    if value is None:
        return LOWEST_NUMBER if queryable.kind == "number" else ""
    if queryable.kind == "datetime":
        return value.isoformat()
    if queryable.kind == "number":
        return str(value)
    return value


def encode_token(query: Query, scene: Any, backward: bool = False) -> str:
    """The token of the page after `scene` (or, `backward`, the page before it)."""
    values = [_key_value(scene, q) for q, _desc in query.sort]
    content: dict[str, Any] = {"s": query.signature, "v": values}
    if backward:
        content["d"] = "prev"
    payload = json.dumps(content, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, query: Query) -> tuple[list[Any], bool]:
    """The keyset values of a page token made for this same sort, and whether it
    reads backwards (a `prev` link); or BadRequest."""
    try:
        payload = parse_json(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if payload["s"] != query.signature:
            raise BadRequest(_("The page token was made for another sort order."))
        values = payload["v"]
        if not isinstance(values, list) or len(values) != len(query.sort):
            raise ValueError
        if payload.get("d", "next") not in ("next", "prev"):
            raise ValueError
        decoded: list[Any] = []
        for (queryable, _desc), value in zip(query.sort, values, strict=True):
            if queryable.kind == "datetime":
                decoded.append(instant(str(value)))
            elif queryable.kind == "number":
                decoded.append(Decimal(str(value)))
            else:
                decoded.append(str(value))
        return decoded, payload.get("d") == "prev"
    except (ValueError, TypeError, KeyError, ArithmeticError, UnicodeDecodeError, MalformedInput):
        raise BadRequest(_("The page token is not valid.")) from None


def parse_sortby(value: Any) -> list[tuple[Queryable, bool]]:
    """`-datetime,+eo:cloud_cover` (GET) or [{"field": ..., "direction": ...}] (POST)."""
    items: list[tuple[str, str]] = []
    if isinstance(value, str):
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            direction = "desc" if part.startswith("-") else "asc"
            items.append((part.lstrip("+-").strip(), direction))
    elif isinstance(value, list):
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("field"), str):
                raise BadRequest(_('sortby must be a list of {"field": ..., "direction": ...}.'))
            items.append((entry["field"], str(entry.get("direction", "asc")).lower()))
    else:
        raise BadRequest(_('sortby must be a list of {"field": ..., "direction": ...}.'))
    if len(items) > MAX_SORT_KEYS:
        raise BadRequest(_("sortby takes at most %(n)d fields.", n=MAX_SORT_KEYS))
    keys: list[tuple[Queryable, bool]] = []
    for name, direction in items:
        queryable = lookup(name)
        if queryable is None or queryable.kind == "geometry":
            raise BadRequest(
                _("Cannot sort by %(f)s; sortable: %(list)s.", f=name, list=", ".join(SORTABLE))
            )
        if any(queryable is seen for seen, _desc in keys):
            raise BadRequest(_("sortby names %(f)s twice.", f=queryable.name))
        if direction not in ("asc", "desc"):
            raise BadRequest(_("The sort direction must be asc or desc."))
        keys.append((queryable, direction == "desc"))
    return keys


def _decimal(params: dict[str, Any], name: str, low: int, high: int) -> Decimal | None:
    if params.get(name) in (None, ""):
        return None
    try:
        number = Decimal(str(params[name]))
    except ArithmeticError:
        raise BadRequest(_("%(name)s must be a number.", name=name)) from None
    if not number.is_finite() or not low <= number <= high:
        raise BadRequest(
            _("%(name)s must be between %(low)d and %(high)d.", name=name, low=low, high=high)
        )
    return number


def _list(value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [str(v).strip() for v in items if str(v).strip()][:1000]


_NUMBERS = re.compile(r"\s*[-+]?\d+(?:\.\d+)?(?:\s*[,;\s]\s*[-+]?\d+(?:\.\d+)?)*\s*", re.ASCII)


def typed_area(text: str) -> dict[str, Any]:
    """The portal's search area as typed: GeoJSON (drawn, uploaded or pasted), two
    numbers `latitude, longitude` (a point, as maps write it), or four numbers
    `west, south, east, north` (a box); as the search's `intersects` or `bbox`. With
    semicolons between the numbers, commas are decimal commas (`43,6 ; 1,44`)."""
    typed = text.replace(",", ".") if ";" in text else text
    if not _NUMBERS.fullmatch(typed):
        return {"intersects": text}
    numbers = [float(n) for n in re.split(r"[\s,;]+", typed.strip())]
    if len(numbers) == 2:
        latitude, longitude = numbers
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise BadRequest(
                _(
                    "A point is typed as latitude, longitude in degrees (for example"
                    " 43.6, 1.44): the latitude from -90 to 90, the longitude from -180 to 180."
                )
            )
        return {"intersects": {"type": "Point", "coordinates": [longitude, latitude]}}
    if len(numbers) == 4:
        return {"bbox": numbers}
    raise BadRequest(
        _(
            "Type a point as latitude, longitude (two numbers) or a box as west, south,"
            " east, north (four numbers), or draw the area on the map."
        )
    )


def portal_area(text: str) -> tuple[dict[str, Any], BaseGeometry]:
    """An area typed, drawn or uploaded on a portal form (the catalogue's search, a saved
    search): as the search's `intersects` or `bbox` parameter and as a geometry; refused
    (BadRequest) in the portal's words, which say how to type it, not in the API's
    (its parameter's name, its list of types)."""
    area = typed_area(text)
    try:
        if "bbox" in area:
            return area, box(*parse_bbox(area["bbox"], body=True))
        return area, parse_area(area["intersects"])
    except ServiceError as exc:
        # The AOI rules' own words come after the API's "intersects: " ("intersects : "
        # in French): said as a sentence of their own.
        found = re.match(r"intersects\s?:\s*(.+)", exc.message, re.DOTALL)
        if found:
            reason = found.group(1)
            raise BadRequest(reason[:1].upper() + reason[1:]) from None
        if "bbox" in area:
            raise BadRequest(
                _(
                    "A box is typed as west, south, east, north in degrees (longitudes"
                    " from -180 to 180, the south below the north)."
                )
            ) from None
        raise BadRequest(
            _("Draw an area on the map, or give a GeoJSON point, line or polygon.")
        ) from None


def parse_limit(value: Any, body: bool = False) -> int:
    """A page size: a whole number from 1; above MAX_LIMIT, MAX_LIMIT (the STAC API's rule).
    In a query string, digits; in a JSON body (`body`), a number."""
    number: int | None = None
    if isinstance(value, str) and value.isascii() and value.strip().isdigit() and not body:
        number = int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    if number is None:
        raise BadRequest(_("limit must be a whole number."))
    if number < 1:
        raise BadRequest(_("limit must be at least 1."))
    return min(number, MAX_LIMIT)


def parse(params: dict[str, Any], body: bool = False) -> Query:
    """Build a Query from STAC parameters (GET strings, or with `body` a POST's JSON);
    refuse bad ones clearly."""
    query = Query()
    if params.get("bbox") not in (None, ""):
        query.bbox = parse_bbox(params["bbox"], body)
    if params.get("intersects") not in (None, ""):
        if query.bbox:
            raise BadRequest(_("Give bbox or intersects, not both."))
        query.intersects = parse_area(params["intersects"])
    if params.get("datetime"):
        if not isinstance(params["datetime"], str):
            raise BadRequest(_("datetime must be a string."))
        query.start, query.end = parse_datetime(params["datetime"])
    for name in ("ids", "collections"):
        value = params.get(name)
        if value:
            if not isinstance(value, str | list):
                raise BadRequest(_("%(name)s must be a list of identifiers.", name=name))
            setattr(query, name, _list(value))
    if params.get("limit") not in (None, ""):
        query.limit = parse_limit(params["limit"], body)
    query.max_cloud = _decimal(params, "max_cloud", 0, 100)
    query.max_incidence = _decimal(params, "max_incidence", 0, 90)
    query.levels = _list(params.get("processing_level"))
    query.modes = _list(params.get("spectral_mode"))
    query.stereo_only = str(params.get("stereo", "")).lower() in ("1", "true", "on", "yes")
    if params.get("filter") not in (None, ""):
        query.filter = cql2.parse(params["filter"], params.get("filter-lang"))
    if params.get("filter-crs") not in (None, "", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"):
        raise BadRequest(_("Only filter-crs CRS84 (longitude, latitude) is supported."))
    if params.get("sortby") not in (None, "", []):
        query.sortby = parse_sortby(params["sortby"])
    if params.get("token"):
        query.after, query.backward = decode_token(str(params["token"]), query)
    return query


def _area(query: Query) -> BaseGeometry | None:
    if query.bbox:
        return MultiPolygon([box(*query.bbox)])
    return query.intersects


def _has_area(query: Query) -> bool:
    return query.bbox is not None or query.intersects is not None


# --- What a search filters on: one set of statements, every value a bound parameter ----------

# The search area, bound as WKB (`_params`).
_AREA = func.ST_GeomFromWKB(bindparam("area", type_=LargeBinary), 4326)


def _conditions(query: Query) -> list[ColumnElement[bool]]:
    """The query's filters but its area, its CQL2 filter and its keyset, on parameters
    named after its fields (bound by `_params`)."""
    conditions: list[ColumnElement[bool]] = []
    if query.start:
        conditions.append(Scene.datetime >= bindparam("start"))
    if query.end:
        conditions.append(Scene.datetime <= bindparam("end"))
    if query.ids:
        conditions.append(Scene.id.in_(bindparam("ids", expanding=True)))
    if query.collections:
        conditions.append(Scene.collection_id.in_(bindparam("collections", expanding=True)))
    if query.max_cloud is not None:
        conditions.append(Scene.cloud_cover <= bindparam("max_cloud"))
    if query.max_incidence is not None:
        conditions.append(Scene.incidence_angle <= bindparam("max_incidence"))
    if query.levels:
        conditions.append(Scene.processing_level.in_(bindparam("levels", expanding=True)))
    if query.modes:
        conditions.append(Scene.spectral_mode.in_(bindparam("modes", expanding=True)))
    if query.stereo_only:
        conditions.append(Scene.stereo_group.is_not(None))
    return conditions


def _where(query: Query, area: bool = True, after: bool = True) -> list[ColumnElement[bool]]:
    """Every condition of the query: its area (unless `area` is False: the walk tests it
    apart), its filters, its CQL2 filter (which carries its own values) and the keyset."""
    where: list[ColumnElement[bool]] = []
    if area and _has_area(query):
        where.append(func.ST_Intersects(Scene.footprint, _AREA))
    where += _conditions(query)
    if query.filter is not None:
        where.append(query.filter)
    if after and query.after:
        values = [
            bindparam(f"after{i}", type_=_sort_expression(q).type)
            for i, (q, _desc) in enumerate(query.order)
        ]
        where.append(_after(query, values))
    return where


def _params(query: Query) -> dict[str, Any]:
    """The values of the statements' parameters."""
    area = _area(query)
    params: dict[str, Any] = {
        "area": None if area is None else area.wkb,
        "start": query.start,
        "end": query.end,
        "ids": query.ids,
        "collections": query.collections,
        "max_cloud": query.max_cloud,
        "max_incidence": query.max_incidence,
        "levels": query.levels,
        "modes": query.modes,
        "page_limit": query.limit + 1,
        "count_limit": MATCH_CAP + 1,
        "walk_rows": PROBE_ROWS,
    }
    if area is not None:
        for side, value in zip(("west", "south", "east", "north"), area.bounds, strict=True):
            params[f"box_{side}"] = value
    for i, value in enumerate(query.after or []):
        params[f"after{i}"] = value
    for i, cell in enumerate(cells(query)):
        params[f"cell{i}"] = cell
    return params


def filters(query: Query) -> list[ColumnElement[bool]]:
    """The query's conditions but its area and keyset, on the parameters of `params`."""
    return _where(query, area=False, after=False)


params = _params  # the values of the parameters of `filters` (and of the page's statements)


def matching(query: Query) -> Select[Any]:
    """Every scene the query matches, unordered (for the coverage of its area), its
    values bound."""
    return select(Scene).where(*_where(query, after=False)).params(**_params(query))


def _after(query: Query, values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after the previous page's last row, in the query's order."""
    keys = [(_sort_expression(q), desc) for q, desc in query.order]
    if len({desc for _expr, desc in keys}) == 1:  # one direction: a row comparison
        left, right = tuple_(*[e for e, _d in keys]), tuple_(*values)
        return left < right if keys[0][1] else left > right
    alternatives = []
    for i, (expression, desc) in enumerate(keys):
        equal = [keys[k][0] == values[k] for k in range(i)]
        step = expression < values[i] if desc else expression > values[i]
        alternatives.append(and_(*equal, step))
    return or_(*alternatives)


# --- The plan: walk the sort's index, or read the area first --------------------------------

WALK = "walk"  # walk the sort's index, testing each row's box then footprint (_walked_page)
CELLS = "cells"  # the same walk, newest first, through the cells the area's scenes lie in
AREA = "area"  # read the area's scenes first (GiST), then a top-N sort of their keys
PLAIN = "plain"  # no area: the planner's plan (a sort index, a collection's index, ids)

# What a row costs each plan, in µs, measured at 200,000 and 1,000,000 scenes (bench/README.md,
# "The plan of a search with an area"): a row of the walk read from the index alone (its
# datetime, cloud cover and footprint box are in it), a row of the walk that needs the table
# (a filter on a column the index lacks), and a footprint of the area read through the GiST
# index (a random read of the table, then the exact test).
WALK_INDEX_ROW_US = 0.3
WALK_TABLE_ROW_US = 3.0
AREA_ROW_US = 5.0
# The walk stops after this many times the rows it expects to need (never fewer than
# PROBE_ROWS, never more than MAX_WALK_ROWS); a walk that ends without a full page gives
# way to the area-first plan.
WALK_MARGIN = 4
MAX_WALK_ROWS = 200_000
# A walk that found no page falls back on reading the area first, unless the area holds
# more scenes than this (France: 600,000 at 1,000,000 scenes), where PostgreSQL's plan runs.
FALLBACK_AREA_MAX = 50_000
# The walk's sort indexes carry these columns (migrations 0014, 0016): a walk filtering on
# nothing else reads the index alone.
_IN_SORT_INDEXES = ("start", "end", "max_cloud")
# A search sorted by date whose area lies in at most this many cells (models.SCENE_CELL:
# a point lies in four, a box of less than 2° in four to nine) may walk those cells and
# the wide scenes' (CELLS) instead of the whole catalogue's date index (WALK): the same
# rows in the same order, less the scenes of other cells (a point in Toulouse at
# 1,000,000 scenes: 523 rows walked for a page of 21 instead of 7,321). Each cell is one
# more branch for PostgreSQL to plan and start (a search's statement is planned at every
# run), counted as CELL_BRANCH_US: ~0.12 ms each at 1,000,000 scenes, where the Toulouse
# box's page took as long through its five cells as through the whole index (3.7 ms, load
# 6: 175 rows walked against 2,365), and the Toulouse point's 2.3 against 3.4 ms.
MAX_CELLS = 16
CELL_BRANCH_US = 120.0
_scene_cell = literal_column(SCENE_CELL, Integer)


def cells(query: Query) -> list[int]:
    """The cells the scenes meeting the query's area can lie in, the wide scenes' last;
    none when the search does not walk cells (no area, another sort, a large area, a CQL2
    filter: its statements are built at every search, and each cell would be one more
    copy of the filter to build).

    A box of at most CELL_DEGREES that meets the area has its south-west corner at most
    CELL_DEGREES west and south of the area's: its cell is one of those from there to
    the area's north-east corner (a millionth of a degree more to the west and south, so
    that a box whose width rounds to the cell's size is never left out).
    """
    if not _walkable(query) or query.order[0][0].name != "datetime" or query.filter is not None:
        return []
    if query.bbox is not None:  # the bounds of _area's box, without making it
        west, south, east, north = query.bbox
        west, east = min(west, east), max(west, east)
    else:
        assert query.intersects is not None  # _walkable: an area
        west, south, east, north = query.intersects.bounds
    low_x = math.floor((west - CELL_DEGREES - 1e-6) / CELL_DEGREES)
    low_y = math.floor((south - CELL_DEGREES - 1e-6) / CELL_DEGREES)
    high_x = math.floor(east / CELL_DEGREES)
    high_y = math.floor(north / CELL_DEGREES)
    if (high_x - low_x + 1) * (high_y - low_y + 1) > MAX_CELLS:
        return []
    found = [x * 100 + y for x in range(low_x, high_x + 1) for y in range(low_y, high_y + 1)]
    return [*found, BIG_CELL]


@dataclass(frozen=True)
class Estimate:
    """How many scenes a search meets, estimated from a sample of the catalogue."""

    candidates: float  # footprints whose bounding box meets the area's (all of them, any filter)
    domain: float  # rows of the sort's index a walk passes through (its range: the dates)
    matched: float  # scenes meeting the area and the filters the sample knows
    in_cells: float | None = None  # of `domain`, the rows of the area's cells (`cells`)


@dataclass
class _Sample:
    taken: float  # time.monotonic() of the reading
    rate: float  # the share of the catalogue's scenes read
    west: Any  # numpy arrays, one value per sampled scene
    south: Any
    east: Any
    north: Any
    when: Any  # the datetime, in seconds since the epoch
    collection: Any
    cloud: Any  # NaN for none
    incidence: Any
    cell: Any  # models.SCENE_CELL


# A few thousand scenes' boxes, dates and filtered columns: what the plan's choice and the
# estimated numberMatched are computed from, in Python, in well under a millisecond
# (PostGIS's own estimate misses dense areas by a factor of 45: 52 footprints estimated in
# the Toulouse box that meets 2,329 at 200,000 scenes). Read by a thread of its own (a
# TABLESAMPLE of the table: 0.1-1 s at 1,000,000 scenes on a busy machine), again after
# SAMPLE_SECONDS; until the first reading is there, a search walks first and falls back.
SAMPLE_ROWS = 5_000
SAMPLE_SECONDS = 600.0
# Tests read it at once, in the request (tests/catalogue/conftest.py).
SAMPLE_IN_BACKGROUND = True
_SAMPLES: dict[str, _Sample] = {}
_READING: dict[str, threading.Thread] = {}
_SAMPLE_LOCK = threading.Lock()


def forget_sample() -> None:
    """Read the sample again at the next search (tests, after a large ingest)."""
    with _SAMPLE_LOCK:
        _SAMPLES.clear()


def _sample() -> _Sample | None:
    """The catalogue's sample, or None while it is being read."""
    engine = db.session.get_bind().engine
    key = str(engine.url)
    sample = _SAMPLES.get(key)
    if sample is not None and time.monotonic() - sample.taken < SAMPLE_SECONDS:
        return sample
    if not SAMPLE_IN_BACKGROUND:
        _SAMPLES[key] = _read_sample(db.session.connection())
        return _SAMPLES[key]
    with _SAMPLE_LOCK:
        reading = _READING.get(key)
        if reading is None or not reading.is_alive():
            reading = threading.Thread(
                target=_read_in_background, args=(engine, key), name="search-sample", daemon=True
            )
            _READING[key] = reading
            reading.start()
    return sample  # the previous reading meanwhile, or None


def _read_in_background(engine: Any, key: str) -> None:
    try:
        with engine.connect() as connection:
            sample = _read_sample(connection)
            connection.rollback()
    except SQLAlchemyError:
        return  # the next search tries again; searches meanwhile walk first
    _SAMPLES[key] = sample


def wait_for_sample(timeout: float = 30.0) -> None:
    """Wait for a reading under way (tests, benchmarks)."""
    for reading in list(_READING.values()):
        reading.join(timeout)


def _read_sample(connection: Any) -> _Sample:
    total = connection.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = 'scenes'::regclass")
    ).scalar_one()
    columns = (
        "SELECT fp_west, fp_south, fp_east, fp_north, extract(epoch FROM datetime),"
        " collection_id, cloud_cover, incidence_angle FROM scenes"
    )
    if total is None or total < 2 * SAMPLE_ROWS:  # small (or never analysed): all of it
        rows = connection.execute(text(columns)).all()
        rate = 1.0
    else:
        share = 100.0 * SAMPLE_ROWS / float(total)
        rows = connection.execute(text(f"{columns} TABLESAMPLE SYSTEM ({share:.6f})")).all()
        rate = max(len(rows), 1) / float(total)
    values = list(zip(*rows, strict=True)) if rows else [()] * 8

    def numbers(i: int) -> Any:
        return numpy.array([math.nan if v is None else float(v) for v in values[i]], dtype=float)

    west, south, east, north = numbers(0), numbers(1), numbers(2), numbers(3)
    narrow = (east - west <= CELL_DEGREES) & (north - south <= CELL_DEGREES)
    cell = numpy.floor(west / CELL_DEGREES) * 100 + numpy.floor(south / CELL_DEGREES)
    return _Sample(
        taken=time.monotonic(),
        rate=rate,
        west=west,
        south=south,
        east=east,
        north=north,
        when=numbers(4),
        collection=numpy.array(values[5], dtype=object),
        cloud=numbers(6),
        incidence=numbers(7),
        cell=numpy.where(narrow, cell, BIG_CELL),
    )


def estimate(query: Query) -> Estimate | None:
    """How many scenes the query's area and filters hold, from the sample (the CQL2
    filter, ids, levels, modes and stereo are not in it: counted as passing); None
    while the sample is being read."""
    sample = _sample()
    if sample is None:
        return None
    everything = numpy.ones(len(sample.west), dtype=bool)
    dates = everything.copy()
    if query.start is not None:
        dates &= sample.when >= query.start.timestamp()
    if query.end is not None:
        dates &= sample.when <= query.end.timestamp()
    passing = dates.copy()
    if query.collections:
        passing &= numpy.isin(sample.collection, query.collections)
    if query.max_cloud is not None:
        passing &= sample.cloud <= float(query.max_cloud)
    if query.max_incidence is not None:
        passing &= sample.incidence <= float(query.max_incidence)
    # The walk's range: the dates in the datetime's index; every date, up to the
    # highest cloud cover asked, in the cloud cover's.
    domain = dates
    if query.sort[0][0].name == "eo:cloud_cover":
        domain = everything.copy()
        if query.max_cloud is not None:
            domain &= sample.cloud <= float(query.max_cloud)
    area = _area(query)
    if area is None:
        meets = numpy.ones(len(sample.west), dtype=bool)
    else:
        west, south, east, north = area.bounds
        meets = (
            (sample.west <= east)
            & (sample.east >= west)
            & (sample.south <= north)
            & (sample.north >= south)
        )
    scale = 1.0 / sample.rate
    walked = cells(query)
    return Estimate(
        candidates=float(meets.sum()) * scale,
        domain=float(domain.sum()) * scale,
        matched=float((meets & passing).sum()) * scale,
        in_cells=float((domain & numpy.isin(sample.cell, walked)).sum()) * scale
        if walked
        else None,
    )


def _walkable(query: Query) -> bool:
    """Whether a search can walk its sort's index (an area, a sort with an index, no ids)."""
    return _has_area(query) and not query.ids and query.order[0][0].name in PROBED


def expected_walk(query: Query, guess: Estimate, plan: str = WALK) -> float:
    """The rows a walk is expected to pass before it holds a full page (through the
    area's cells for CELLS)."""
    domain = guess.in_cells if plan == CELLS and guess.in_cells is not None else guess.domain
    return (query.limit + 1) * max(domain, 1.0) / max(guess.matched, 1e-9)


def choose(query: Query, guess: Estimate | None) -> str:
    """The plan of a search: a walk when walking the sort's index to a full page is
    expected to cost less than reading every footprint meeting the area (AREA), from the
    estimate; the walk goes through the area's cells (CELLS) when it has few, else through
    the whole index (WALK). Without an estimate (the sample is being read) a search that
    can walk does (and falls back)."""
    if not _has_area(query) or not _walkable(query):
        return PLAIN  # no index walk to keep PostgreSQL from: its own plan
    if guess is None:
        return WALK
    if guess.matched < 1:
        return AREA
    in_index = query.filter is None and all(
        name in _IN_SORT_INDEXES
        for name, given in (
            ("start", query.start),
            ("end", query.end),
            ("collections", query.collections),
            ("max_cloud", query.max_cloud),
            ("max_incidence", query.max_incidence),
            ("levels", query.levels),
            ("modes", query.modes),
            ("stereo", query.stereo_only),
        )
        if given not in (None, [], False)
    )
    per_row = WALK_INDEX_ROW_US if in_index else WALK_TABLE_ROW_US
    walk_plan, walk = WALK, expected_walk(query, guess, WALK) * per_row
    if cells(query):
        branches = len(cells(query)) * CELL_BRANCH_US
        through_cells = expected_walk(query, guess, CELLS) * per_row + branches
        if through_cells < walk:
            walk_plan, walk = CELLS, through_cells
    return walk_plan if walk < guess.candidates * AREA_ROW_US else AREA


# --- The statements of a page -----------------------------------------------------------------


# The statements of a search, by kind: PLAIN (no area, or the planner's plan), WALK, CELLS
# (the walk of the sort's index, or of the area's cells: _walked_page), AREA (the area
# first; its rows carry the number of matches, `matched`) and COUNT (the number of
# matches, up to `count_limit`).
COUNT = "count"

# Statements built once per shape of query (which filters it has, its sort, whether it
# continues a page) and kind: building a statement costs more CPU than PostgreSQL's part
# of a small page. A shape holds no value (every value is a bound parameter), so nothing of
# one request reaches another. A CQL2 filter carries its own values: its statements are
# built each time, only the one the search runs (building all five cost 5 ms of CPU a
# page for Brittany's filter at 1,000,000 scenes: 13 against 7.5 ms before issue 16).
_STATEMENTS: dict[tuple[Any, ...], Any] = {}
MAX_STATEMENTS = 1000


def _shape(query: Query, orm: bool) -> tuple[Any, ...]:
    return (
        orm,
        _has_area(query),
        query.start is not None,
        query.end is not None,
        bool(query.ids),
        bool(query.collections),
        query.max_cloud is not None,
        query.max_incidence is not None,
        bool(query.levels),
        bool(query.modes),
        query.stereo_only,
        bool(query.after),
        tuple((q.name, desc) for q, desc in query.order),
        len(cells(query)),
    )


def _statement(query: Query, orm: bool, kind: str) -> Any:
    """The query's statement of this kind (PLAIN, WALK, CELLS, AREA or COUNT), built
    once per shape; None when the query has none of this kind (no area to walk...)."""
    shape = (*_shape(query, orm), kind) if query.filter is None else None
    built = _STATEMENTS.get(shape) if shape is not None else None
    if built is None:
        built = _build(query, orm, kind)
        if shape is not None and len(_STATEMENTS) < MAX_STATEMENTS:
            _STATEMENTS[shape] = built
    return built


def _build(query: Query, orm: bool, kind: str) -> Any:
    columns: Select[Any] = select(Scene) if orm else select(*ROW_COLUMNS)
    page_limit: Any = bindparam("page_limit")
    if kind == PLAIN:
        return columns.where(*_where(query)).order_by(*_order_by(query)).limit(page_limit)
    if kind == COUNT:
        counted = select(Scene.id).where(*_where(query, after=False))
        return select(func.count()).select_from(counted.limit(bindparam("count_limit")).subquery())
    keys = [_sort_expression(q).label(f"k{i}") for i, (q, _desc) in enumerate(query.order)]
    if kind == AREA and _has_area(query):
        # The area first: every match's id and sort keys (the CTE is materialised, so that
        # PostgreSQL cannot turn it into a walk of the sort's index), then the page's rows
        # by primary key.
        matches = (
            select(Scene.id, *keys).where(*_where(query)).cte("matches").prefix_with("MATERIALIZED")
        )
        page = (
            select(matches.c.id, *[matches.c[f"k{i}"] for i in range(len(keys))])
            .order_by(*_ordered(matches, query))
            .limit(page_limit)
            .subquery()
        )
        total = select(func.count()).select_from(matches).scalar_subquery().label("matched")
        return (
            columns.add_columns(total)
            .join_from(Scene, page, page.c.id == Scene.id)
            .order_by(*_ordered(page, query))
        )
    if kind not in (WALK, CELLS) or not _walkable(query) or (kind == CELLS and not cells(query)):
        return None
    # A CQL2 filter reads the table anyway: the walk then takes the footprint with the
    # row (no box to test, no second read of the row).
    carried = (Scene.footprint,) if query.filter is not None else BOX_COLUMNS
    walk_rows: Any = bindparam("walk_rows")

    def walk_of(*where: Any) -> Select[Any]:
        return (
            select(Scene.id, *carried, *keys)
            .where(*where, *_where(query, area=False))
            .order_by(*_order_by(query))
            .limit(walk_rows)
        )

    box: list[Any] = [bindparam(f"box_{side}") for side in ("west", "south", "east", "north")]
    if kind == WALK:
        return _walked_page(columns, walk_of().subquery(), box, query, page_limit)
    # Each cell walked newest first by the index of cells (a subquery with its own order
    # and limit: PostgreSQL merges them, Merge Append, and stops at the limit).
    merged = union_all(
        *(walk_of(bindparam(f"cell{i}") == _scene_cell) for i in range(len(cells(query))))
    ).subquery("cells")
    walked = select(merged).order_by(*_ordered(merged, query)).limit(walk_rows).subquery()
    return _walked_page(columns, walked, box, query, page_limit)


def _ordered(table: Any, query: Query) -> list[Any]:
    """The order of the query on a subquery's sort keys (k0, k1...)."""
    return [
        table.c[f"k{i}"].desc() if desc else table.c[f"k{i}"].asc()
        for i, (_q, desc) in enumerate(query.order)
    ]


def _walked_page(
    columns: Select[Any], walked: Any, box: list[Any], query: Query, limit: Any
) -> Any:
    """`columns` of the scenes of the walk's first `limit` rows meeting the area, in sort order.

    The walk carries each row's footprint box (in the sort indexes with the
    datetime: a walk filtered on dates alone reads only the index); rows whose
    box misses the area's (`box`: west, south, east, north) are dropped there,
    and only the others' footprints are read, by primary key in a subquery of
    their own, for the exact test. Written as a join, PostgreSQL may instead
    read every footprint meeting the area through the spatial index and join
    them with the whole walk (it underestimates dense areas: 142 ms for the
    Toulouse box against 7); and the box is tested here, not in the walk, so
    that the walk's row estimate, hence its plan (the sort index, in order),
    stays the one of the dates and filters alone (with the box in it,
    PostgreSQL expected few rows and read the whole table: 340 ms). The page's
    ids are then joined by primary key in the same statement, which keeps the
    walk's plan (a subquery with a LIMIT).
    """
    if "footprint" in walked.c:  # the walk read the rows (see _build)
        meets = [func.ST_Intersects(walked.c.footprint, _AREA)]
    else:
        west, south, east, north = box
        scene = Scene.__table__.alias("walked_scene")
        footprint = select(scene.c.footprint).where(scene.c.id == walked.c.id).scalar_subquery()
        meets = [
            walked.c.fp_west <= east,
            walked.c.fp_east >= west,
            walked.c.fp_south <= north,
            walked.c.fp_north >= south,
            func.ST_Intersects(footprint, _AREA),
        ]
    page = (
        select(walked.c.id, *[walked.c[f"k{i}"] for i in range(len(query.order))])
        .where(*meets)
        .order_by(*_ordered(walked, query))
        .limit(limit)
        .subquery()
    )
    return columns.join_from(Scene, page, page.c.id == Scene.id).order_by(*_ordered(page, query))


# --- A page ---------------------------------------------------------------------------------


class Page(NamedTuple):
    rows: list[Any]  # Scene objects, or plain rows of ROW_COLUMNS
    matched: int | None  # exact; None: not counted, or beyond MATCH_CAP
    next: str | None  # the token of the next page
    prev: str | None  # the token of the previous page
    plan: str = PLAIN  # the plan that read the page (WALK, CELLS, AREA or PLAIN)
    about: int | None = None  # when `matched` is None: an estimate of the number matched


def run(
    query: Query, count: bool = True, rows: bool = False
) -> tuple[list[Any], int | None, str | None]:
    """One page: the scenes, the number matched and the next token (see `run_page`)."""
    page = run_page(query, count, rows)
    return page.rows, page.matched, page.next


def run_page(query: Query, count: bool = True, rows: bool = False, plan: str | None = None) -> Page:
    """One page: the scenes, the number matched and the next and previous tokens.

    The plan is chosen by `choose` from `estimate` (or forced by `plan`: tests and
    benchmarks). The number matched is exact up to MATCH_CAP (`count`: the portal),
    else None with an estimate in `about`. Without `count` (the STAC API) it is given
    only when known for free: the first page holds every match, or the area was read
    first (its matches were all read). With `rows=True` the scenes are plain rows of
    ROW_COLUMNS, not Scene objects (the STAC API: cheaper to read, and nothing there
    changes them).
    """
    # No JIT, no parallel workers: set on every connection (core.db.SESSION_SETTINGS);
    # the plans: see _execute.
    if query.filter is None:
        return _run(query, count, rows, plan)
    try:  # a filter can still meet a database refusal (an invalid polygon, say)
        return _run(query, count, rows, plan)
    except (DataError, InternalError, ProgrammingError) as exc:
        # No savepoint around the search (two round trips on every filtered page):
        # a search writes nothing, and the 400 that follows rolls the request's
        # transaction back anyway (core.transaction); rolled back here so that the
        # session is usable again before that.
        db.session.rollback()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else ""
        raise BadRequest(_("The filter could not be applied: %(e)s", e=reason[:200])) from None


# The walks (WALK, CELLS) of a search without a CQL2 filter may keep a plan; every other
# statement of a search is planned for its values at every run (db.custom_plans), since
# its best plan depends on them (the size of the area decides between the spatial index
# and the sort's; a CQL2 filter's conditions are whatever the client wrote). A walk's plan
# is fixed by its shape: each walk is a subquery ordered and limited as its index is (the
# sort's, or a cell's), whose rows are then tested and joined by primary key, whatever the
# values. Planning it again at every page cost more than running it at 1,000,000 scenes:
# 0.21-0.27 ms for the walk of the date index (run: 0.3-1.0 ms), 0.38-0.45 ms for a point's
# five cells (run: ~0.45 ms), against 0.02-0.03 ms through a kept plan, which runs as fast.
# psycopg prepares a statement run five times on a connection; PostgreSQL then plans it
# for its values five times more and keeps a generic plan when that costs no more (the
# walks within dates or through cells; one without dates is still planned every time, its
# generic plan expecting a longer walk).
KEPT_PLANS = (WALK, CELLS)


def _execute(
    statement: Any, params: dict[str, Any], orm: bool, query: Query, plan: str
) -> list[Any]:
    """The statement's rows (Scene objects in rows of one, or plain rows)."""
    if plan in KEPT_PLANS and query.filter is None:
        return _rows(statement, params, orm)
    with db.custom_plans():
        return _rows(statement, params, orm)


def _rows(statement: Any, params: dict[str, Any], orm: bool) -> list[Any]:
    if orm:
        return list(db.session.execute(statement, params).all())
    # Plain rows through the session's connection: no ORM loading machinery, no objects.
    return list(db.session.connection().execute(statement, params).all())


def _run(query: Query, count: bool, as_rows: bool, forced: str | None) -> Page:
    orm = not as_rows
    params = _params(query)
    guess = estimate(query) if _has_area(query) or count else None
    plan = forced or choose(query, guess)
    read: list[Any] | None = None
    walk = _statement(query, orm, plan) if plan in (WALK, CELLS) else None
    if walk is not None:
        expected = expected_walk(query, guess, plan) if guess is not None else PROBE_ROWS
        params["walk_rows"] = int(min(max(expected * WALK_MARGIN, PROBE_ROWS), MAX_WALK_ROWS))
        read = _execute(walk, params, orm, query, plan)
        if len(read) <= query.limit:  # the walk ended without a full page: the area, unless
            # it is too large to read whole (then PostgreSQL's own plan)
            large = guess is not None and guess.candidates > FALLBACK_AREA_MAX
            read, plan = None, PLAIN if large else AREA
    matched: int | None = None
    if read is None and plan in (WALK, CELLS, AREA) and _has_area(query):
        plan = AREA
        read = _execute(_statement(query, orm, AREA), params, orm, query, AREA)
        if not query.after:
            matched = read[0].matched if read else 0
        read = [row[0] for row in read] if orm else read
    elif read is None:
        plan = PLAIN
        read = _execute(_statement(query, orm, PLAIN), params, orm, query, PLAIN)
    if orm and plan != AREA:
        read = [row[0] for row in read]
    about = None
    if count and matched is None:
        if guess is None or guess.matched <= COUNT_BELOW:
            counted = _execute(_statement(query, orm, COUNT), params, False, query, COUNT)[0][0]
            if counted <= MATCH_CAP:
                matched = counted
            else:
                about = max(round(guess.matched), MATCH_CAP + 1) if guess else None
        else:
            about = round(guess.matched)
    return _cut(query, read, matched, plan, about)


def _cut(query: Query, rows: list[Any], matched: int | None, plan: str, about: int | None) -> Page:
    """The page (rows read: limit + 1, in the reading order), the number matched and
    the tokens of the pages around it.

    Without a number (`matched` None), the number is given only when a first page
    holds every match.
    """
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    if query.backward:  # read from the next page's first row back: turned round
        rows.reverse()
        earlier, later = more, bool(rows)
    else:
        earlier, later = bool(query.after) and bool(rows), more
    following = encode_token(query, rows[-1]) if later else None
    preceding = encode_token(query, rows[0], backward=True) if earlier else None
    if matched is None:
        first_and_only = following is None and preceding is None and not query.after
        if first_and_only:
            return Page(rows, len(rows), following, preceding, plan)
        return Page(rows, None, following, preceding, plan, about)
    if matched > MATCH_CAP and about is None:
        about = matched
    shown = matched if matched <= MATCH_CAP else None
    return Page(rows, shown, following, preceding, plan, about)
