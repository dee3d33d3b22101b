"""Yearly PDF reports, one per entity and the programme's, with the dashboard's figures."""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from pathlib import Path
from typing import Any

import shapely
from flask_babel import gettext as _
from shapely.geometry import MultiPolygon, Polygon, box, shape
from shapely.geometry.polygon import orient
from sqlalchemy import extract, func, select

from dinamis.accounts.models import User, UserStatus
from dinamis.catalogue.models import Scene
from dinamis.core.errors import BadRequest
from dinamis.core.pdf import render_pdf, text_table
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders.models import Delivery, Order
from dinamis.reports import stats
from dinamis.reports.models import Publication, ReportStatus, UsageReport

LAND = Path(__file__).resolve().parent.parent / "static" / "vendor" / "world-land.geojson"
MAP_WIDTH = 480
# Above this many footprints the map draws their union: one SVG path per
# footprint makes WeasyPrint take minutes (60,000 paths: 70 s).
MAX_DRAWN_FOOTPRINTS = 1000
# The programme's entity listing: name, granted, consumed, co-funded, in
# characters of its monospaced font (98 at 8 pt fill the A4 page's width).
ENTITY_COLUMNS = (62, 12, 12, 12)
PROGRAMME_TEMPLATE = "reports/yearly_programme.html"


def check_year(year: int, today: dt.date | None = None) -> int:
    today = today or dt.date.today()
    if not 2000 <= year <= today.year:
        raise BadRequest(_("A yearly report covers a year from 2000 to %(y)d.", y=today.year))
    return year


@functools.lru_cache(maxsize=1)
def _land() -> list[Polygon]:
    if not LAND.exists():
        return []
    data = json.loads(LAND.read_text())
    polygons: list[Polygon] = []
    for feature in data.get("features", []):
        geometry = shape(feature["geometry"])
        polygons.extend(getattr(geometry, "geoms", [geometry]))
    return polygons


def footprint_map(footprints: list[Polygon]) -> dict[str, Any] | None:
    """SVG paths of the delivered footprints over the land outline, north up.

    Up to MAX_DRAWN_FOOTPRINTS each footprint is drawn (overlaps look darker);
    beyond, the area they cover, simplified to a tenth of a pixel.
    """
    if not footprints:
        return None
    union = MultiPolygon([p for f in footprints for p in getattr(f, "geoms", [f])])
    minx, miny, maxx, maxy = union.bounds
    pad = max(maxx - minx, maxy - miny, 1.0) * 0.15
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    shrink = max(math.cos(math.radians((miny + maxy) / 2)), 0.05)
    scale = MAP_WIDTH / ((maxx - minx) * shrink)
    height = int((maxy - miny) * scale)

    def path(polygon: Polygon) -> str:
        rings = [polygon.exterior, *polygon.interiors]
        return " ".join(
            "M"
            + " L".join(
                f"{(x - minx) * shrink * scale:.1f},{(maxy - y) * scale:.1f}" for x, y in r.coords
            )
            + " Z"
            for r in rings
        )

    frame = box(minx, miny, maxx, maxy)
    land = []
    for polygon in _land():
        if polygon.intersects(frame):
            clipped = polygon.intersection(frame)
            land.extend(
                path(p) for p in getattr(clipped, "geoms", [clipped]) if isinstance(p, Polygon)
            )
    drawn = list(union.geoms)
    if len(drawn) > MAX_DRAWN_FOOTPRINTS:
        covered = shapely.union_all(drawn).simplify(0.1 / scale)
        drawn = [orient(p) for p in shapely.get_parts(covered) if isinstance(p, Polygon)]
    return {
        "width": MAP_WIDTH,
        "height": height,
        "land": land,
        "footprints": [path(p) for p in drawn],
    }


def _delivered_footprints(year: int, entity_id: int | None = None) -> list[Polygon]:
    """The polygons delivered in `year`: the catalogue scene's footprint, else the order's AOI."""
    query = (
        select(func.ST_AsBinary(func.coalesce(Scene.footprint, Order.aoi)))
        .select_from(Delivery)
        .join(Order, Order.id == Delivery.order_id)
        .outerjoin(Scene, Scene.id == Delivery.scene_id)
        .where(extract("year", Delivery.created_at) == year)
    )
    if entity_id is not None:
        query = query.where(Order.entity_id == entity_id)
    geometries = shapely.from_wkb([bytes(wkb) for wkb in db.session.scalars(query)])
    return list(shapely.get_parts(geometries)) if len(geometries) else []


def _publications(year: int, entity_id: int | None = None) -> list[Publication]:
    query = (
        select(Publication)
        .join(UsageReport)
        .where(
            UsageReport.year == year,
            UsageReport.status.in_((ReportStatus.SUBMITTED, ReportStatus.ACCEPTED)),
        )
        .order_by(Publication.year.desc(), Publication.title)
    )
    if entity_id is not None:
        query = query.where(UsageReport.entity_id == entity_id)
    return list(db.session.scalars(query))


def publication_line(publication: Publication) -> str:
    doi = f" · doi:{publication.doi}" if publication.doi else ""
    return f"{publication.title} ({publication.year}){doi}"


def entity_pdf(entity: Entity, year: int) -> bytes:
    check_year(year)
    f = stats.Filters(period=str(year), entity_id=entity.id)
    members = list(
        db.session.scalars(
            select(User)
            .where(User.entity_id == entity.id, User.status == UserStatus.ACTIVE)
            .order_by(User.last_name, User.first_name)
        )
    )
    orders = list(
        db.session.scalars(
            select(Order)
            .where(Order.entity_id == entity.id, Order.period == str(year))
            .order_by(Order.id)
        )
    )
    return render_pdf(
        "reports/yearly_entity.html",
        entity=entity,
        year=year,
        members=members,
        orders=orders,
        ledger=stats.ledger(f, "family"),
        downloads=stats.downloads(f),
        reports=list(
            db.session.scalars(
                select(UsageReport)
                .where(UsageReport.entity_id == entity.id, UsageReport.year == year)
                .order_by(UsageReport.id)
            )
        ),
        publications=_publications(year, entity.id),
        map=footprint_map(_delivered_footprints(year, entity.id)),
        generated=dt.datetime.now(dt.UTC),
    )


def programme_figures(year: int) -> dict[str, Any]:
    """The statistics of the programme's year (the dashboard's queries)."""
    f = stats.Filters(period=str(year))
    return {
        "by_profile": stats.ledger(f, "profile"),
        "by_sensor": stats.ledger(f, "sensor"),
        "by_family": stats.ledger(f, "family"),
        "by_entity": stats.ledger(f, "entity"),
        "orders": stats.orders_by_state(f),
        "downloads": stats.downloads(f),
        "activity": stats.activity(f),
    }


def programme_context(
    year: int,
    figures: dict[str, Any],
    publications: list[Publication],
    map: dict[str, Any] | None,
) -> dict[str, Any]:
    """What the programme's template shows, from its figures, publications and map."""
    (entity_head,) = text_table(
        [(_("Entity"), _("Granted"), _("Consumed"), _("Co-funded"))], ENTITY_COLUMNS
    )
    rows = (
        (r["group"], r["granted_km2"], r["consumed_km2"], r["cofunded_km2"])
        for r in figures["by_entity"]
    )
    return {
        **{k: v for k, v in figures.items() if k != "by_entity"},
        "year": year,
        "entity_head": entity_head,
        "entity_lines": text_table(rows, ENTITY_COLUMNS),
        "consumed_chart": stats.bars(figures["by_profile"], "group", "consumed_km2"),
        "downloads_chart": stats.bars(figures["downloads"], "collection", "downloads"),
        "publication_lines": [publication_line(p) for p in publications],
        "map": map,
        "generated": dt.datetime.now(dt.UTC),
    }


def programme_pdf(year: int) -> bytes:
    check_year(year)
    context = programme_context(
        year,
        programme_figures(year),
        _publications(year),
        footprint_map(_delivered_footprints(year)),
    )
    return render_pdf(PROGRAMME_TEMPLATE, **context)
