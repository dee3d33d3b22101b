"""Scene search: the filters the portal and the STAC API share, with keyset pages."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import Select, and_, func, or_, select

from dinamis.catalogue.models import Scene
from dinamis.core.errors import ServiceError
from dinamis.core.geo import parse_aoi
from dinamis.extensions import db

MAX_LIMIT = 1000


@dataclass
class Query:
    bbox: tuple[float, float, float, float] | None = None
    intersects: MultiPolygon | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    ids: list[str] = field(default_factory=list)
    collections: list[str] = field(default_factory=list)
    max_cloud: Decimal | None = None
    limit: int = 10
    after: tuple[dt.datetime, str] | None = None  # keyset: last (datetime, id) of the previous page


def _instant(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_datetime(value: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A STAC datetime: an instant, or an interval with `..` for an open end."""
    try:
        if "/" in value:
            first, _sep, last = value.partition("/")
            start = None if first in ("", "..") else _instant(first)
            end = None if last in ("", "..") else _instant(last)
        else:
            start = end = _instant(value)
    except ValueError:
        raise ServiceError(
            _("datetime must be RFC 3339, or an interval start/end with .. for an open end.")
        ) from None
    if start and end and end < start:
        raise ServiceError(_("The interval ends before it starts."))
    return start, end


def parse_bbox(value: Any) -> tuple[float, float, float, float]:
    try:
        numbers = [float(v) for v in (value.split(",") if isinstance(value, str) else value)]
    except (TypeError, ValueError):
        raise ServiceError(_("bbox must be four numbers: west,south,east,north.")) from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise ServiceError(_("bbox must be four numbers: west,south,east,north."))
    west, south, east, north = numbers
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise ServiceError(_("bbox is out of range or upside down."))
    return west, south, east, north


def encode_token(moment: dt.datetime, scene_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([moment.isoformat(), scene_id]).encode()).decode()


def decode_token(token: str) -> tuple[dt.datetime, str]:
    try:
        moment, scene_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return _instant(moment), str(scene_id)
    except (ValueError, TypeError):
        raise ServiceError(_("The page token is not valid.")) from None


def parse(params: dict[str, Any]) -> Query:
    """Build a Query from STAC parameters (GET strings or POST JSON); refuse bad ones clearly."""
    query = Query()
    if params.get("bbox") not in (None, ""):
        query.bbox = parse_bbox(params["bbox"])
    if params.get("intersects") not in (None, ""):
        if query.bbox:
            raise ServiceError(_("Give bbox or intersects, not both."))
        query.intersects = parse_aoi(params["intersects"])
    if params.get("datetime"):
        query.start, query.end = parse_datetime(str(params["datetime"]))
    for name in ("ids", "collections"):
        value = params.get(name)
        if value:
            items = value.split(",") if isinstance(value, str) else list(value)
            setattr(query, name, [str(v).strip() for v in items if str(v).strip()][:1000])
    if params.get("limit") not in (None, ""):
        try:
            query.limit = int(params["limit"])
        except (TypeError, ValueError):
            raise ServiceError(_("limit must be a whole number.")) from None
        if not 1 <= query.limit <= MAX_LIMIT:
            raise ServiceError(_("limit must be between 1 and %(n)d.", n=MAX_LIMIT))
    if params.get("max_cloud") not in (None, ""):
        try:
            query.max_cloud = Decimal(str(params["max_cloud"]))
        except ArithmeticError:
            raise ServiceError(_("max_cloud must be a number.")) from None
    if params.get("token"):
        query.after = decode_token(str(params["token"]))
    return query


def _filtered(query: Query) -> Select[tuple[Scene]]:
    statement = select(Scene)
    area = None
    if query.bbox:
        area = MultiPolygon([box(*query.bbox)])
    elif query.intersects is not None:
        area = query.intersects
    if area is not None:
        statement = statement.where(
            func.ST_Intersects(Scene.footprint, from_shape(area, srid=4326))
        )
    if query.start:
        statement = statement.where(Scene.datetime >= query.start)
    if query.end:
        statement = statement.where(Scene.datetime <= query.end)
    if query.ids:
        statement = statement.where(Scene.id.in_(query.ids))
    if query.collections:
        statement = statement.where(Scene.collection_id.in_(query.collections))
    if query.max_cloud is not None:
        statement = statement.where(Scene.cloud_cover <= query.max_cloud)
    return statement


def run(query: Query) -> tuple[list[Scene], int, str | None]:
    """One page, newest first: the scenes, the number matched, and the next page's token."""
    statement = _filtered(query)
    matched = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    if query.after:
        moment, scene_id = query.after
        statement = statement.where(
            or_(Scene.datetime < moment, and_(Scene.datetime == moment, Scene.id < scene_id))
        )
    rows = list(
        db.session.scalars(
            statement.order_by(Scene.datetime.desc(), Scene.id.desc()).limit(query.limit + 1)
        )
    )
    token = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        token = encode_token(rows[-1].datetime, rows[-1].id)
    return rows, matched or 0, token
