"""Yearly PDF reports, one per entity and the programme's, with the dashboard's figures."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from flask_babel import gettext as _
from PIL import Image, ImageDraw, ImageFilter
from shapely.geometry import Polygon, box, shape
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from dinamis.accounts.models import User, UserStatus
from dinamis.catalogue.models import Scene
from dinamis.core import dates
from dinamis.core.errors import BadRequest
from dinamis.core.labels import label
from dinamis.core.pdf import render_pdf, text_table
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders.models import Delivery, Order
from dinamis.reports import stats
from dinamis.reports.models import Publication, ReportStatus, UsageReport

LAND = Path(__file__).resolve().parent.parent / "static" / "vendor" / "world-land.geojson"
MAP_WIDTH = 480
# Above this many footprints the map draws the area they cover as an image:
# one SVG path per footprint makes WeasyPrint take minutes (60,000 paths: 70 s).
MAX_DRAWN_FOOTPRINTS = 1000
COVERAGE_DENSITY = 2  # image pixels per SVG unit: ~190 dpi on the printed map
# The programme's entity listing: name, granted, consumed, co-funded, in
# characters of its monospaced font (98 at 8 pt fill the A4 page's width).
ENTITY_COLUMNS = (62, 12, 12, 12)
# An entity's listings, in characters: its members (name, e-mail, role) at
# 8 pt, its orders (number and project, sensor, state, charged km²,
# delivered km²) at 7.5 pt, where 104 fill the page's width.
MEMBER_COLUMNS = (30, 48, 20)
ORDER_COLUMNS = (36, 14, 27, 12, 15)
ORDER_NUMBER_WIDTH = 8  # T-000123: a project's title continues under its own start
PROGRAMME_TEMPLATE = "reports/yearly_programme.html"


def check_year(year: int, today: dt.date | None = None) -> int:
    today = today or dates.today()
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
    """The delivered footprints over the land outline, north up, for an SVG.

    Up to MAX_DRAWN_FOOTPRINTS each footprint is an SVG path (overlaps look
    darker); beyond, the area they cover is a transparent PNG laid over the
    land, at COVERAGE_DENSITY pixels per SVG unit, its edge drawn darker.
    """
    if not footprints:
        return None
    polygons = shapely.get_parts(np.asarray(footprints, dtype=object))
    minx, miny, maxx, maxy = shapely.total_bounds(polygons)
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
    land: list[str] = []
    for polygon in _land():
        if polygon.intersects(frame):
            clipped = polygon.intersection(frame)
            land.extend(
                path(p) for p in getattr(clipped, "geoms", [clipped]) if isinstance(p, Polygon)
            )
    drawn: dict[str, Any] = {"width": MAP_WIDTH, "height": height, "land": land}
    if len(polygons) <= MAX_DRAWN_FOOTPRINTS:
        return {**drawn, "footprints": [path(p) for p in polygons], "coverage": None}

    def to_pixels(xy: Any) -> Any:
        k = COVERAGE_DENSITY
        return np.column_stack(
            ((xy[:, 0] - minx) * shrink * scale * k, (maxy - xy[:, 1]) * scale * k)
        )

    return {**drawn, "footprints": [], "coverage": _coverage_png(polygons, height, to_pixels)}


def _coverage_png(polygons: Any, height: int, to_pixels: Any) -> str:
    """The area the polygons cover as a data: URL of a transparent PNG.

    Rasterising 60,000 footprints takes a fraction of a second where their
    union as a vector took two, and WeasyPrint draws an image where it parsed
    and filled a path of ~13,000 points.
    """
    size = (MAP_WIDTH * COVERAGE_DENSITY, height * COVERAGE_DENSITY)
    covered = Image.new("L", size, 0)
    draw = ImageDraw.Draw(covered)
    holed = shapely.get_num_interior_rings(polygons) > 0
    rings = shapely.get_exterior_ring(polygons[~holed])
    coords, index = shapely.get_coordinates(rings, return_index=True)
    for ring in np.split(to_pixels(coords), np.flatnonzero(np.diff(index)) + 1):
        draw.polygon(ring.ravel().tolist(), fill=255)
    for polygon in polygons[holed]:  # rare: each on its own layer, so a hole hides only itself
        layer = Image.new("L", size, 0)
        pen = ImageDraw.Draw(layer)
        for n, ring in enumerate([polygon.exterior, *polygon.interiors]):
            pen.polygon(to_pixels(np.asarray(ring.coords)).ravel().tolist(), fill=0 if n else 255)
        covered.paste(255, (0, 0), layer)
    edge = covered.filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v else 0)
    alpha = Image.composite(edge, covered.point(lambda v: 90 if v else 0), edge)
    image = Image.new("RGBA", size, (192, 57, 43, 0))
    image.putalpha(alpha)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@db.custom_plans()
def _delivered_footprints(year: int, entity_id: int | None = None) -> list[Polygon]:
    """The polygons delivered in `year`: the catalogue scene's footprint, else the order's AOI."""
    query = (
        select(func.ST_AsBinary(func.coalesce(Scene.footprint, Order.aoi)))
        .select_from(Delivery)
        .join(Order, Order.id == Delivery.order_id)
        .outerjoin(Scene, Scene.id == Delivery.scene_id)
        # A range rather than extract(year): the planner then estimates the
        # year's deliveries right and hashes the orders instead of probing
        # them 60,000 times. Dates compare in the session's time zone, as
        # extract does.
        .where(
            Delivery.created_at >= dt.date(year, 1, 1),
            Delivery.created_at < dt.date(year + 1, 1, 1),
        )
    )
    if entity_id is not None:
        query = query.where(Order.entity_id == entity_id)
    geometries = shapely.from_wkb([bytes(wkb) for wkb in db.session.scalars(query)])
    return list(shapely.get_parts(geometries)) if len(geometries) else []


@db.custom_plans()
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


def entity_listings(members: list[User], orders: list[Order]) -> dict[str, Any]:
    """An entity's members and orders as fixed-width lines (see core.pdf.text_table)."""
    (member_head,) = text_table([(_("Name"), _("E-mail"), _("Role"))], MEMBER_COLUMNS, left=3)
    (order_head,) = text_table(
        [
            (
                f"{_('Number').ljust(ORDER_NUMBER_WIDTH)} {_('Project')}",
                _("Sensor"),
                _("State"),
                _("Charged km²"),
                _("Delivered km²"),
            )
        ],
        ORDER_COLUMNS,
        left=3,
    )
    member_rows = ((m.full_name, m.email, label(m.entity_role or "user")) for m in members)
    order_rows = (
        (
            f"{o.number.ljust(ORDER_NUMBER_WIDTH)} {o.project_title}",
            label(o.sensor),
            label(o.status),
            o.charged_km2,
            o.delivered_km2,
        )
        for o in orders
    )
    return {
        "member_head": member_head,
        "member_lines": text_table(member_rows, MEMBER_COLUMNS, left=3),
        "order_head": order_head,
        "order_lines": text_table(order_rows, ORDER_COLUMNS, left=3, hang=ORDER_NUMBER_WIDTH + 1),
    }


Report = Callable[[int, str], None]  # percent done, step (reports.documents.STEPS)
# A yearly document's layout is stopped after this long (core.pdf.render_pdf's `within`):
# the programme's, over 1,000 entities and 1,431 publications, takes 3-5 s (bench/reports).
LAYOUT_SECONDS = 600.0


def _quiet(percent: int, step: str) -> None:
    """No one follows the progress (the CLI)."""


@db.custom_plans()
def entity_pdf(entity: Entity, year: int, report: Report = _quiet) -> bytes:
    check_year(year)
    report(5, "figures")
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
            # Their delivered km² in one query, not one per order.
            .options(selectinload(Order.deliveries))
            .order_by(Order.id)
        )
    )
    context = {
        "entity": entity,
        "year": year,
        **entity_listings(members, orders),
        "ledger": stats.ledger(f, "family"),
        "downloads": stats.with_titles(stats.downloads(f)),
        "reports": list(
            db.session.scalars(
                select(UsageReport)
                .where(UsageReport.entity_id == entity.id, UsageReport.year == year)
                .order_by(UsageReport.id)
            )
        ),
        "publications": _publications(year, entity.id),
    }
    report(30, "map")
    context["map"] = footprint_map(_delivered_footprints(year, entity.id))
    report(50, "layout")
    return render_pdf(
        "reports/yearly_entity.html",
        within=LAYOUT_SECONDS,
        **context,
        generated=dt.datetime.now(dt.UTC),
    )


def programme_figures(year: int) -> dict[str, Any]:
    """The statistics of the programme's year (the dashboard's queries)."""
    f = stats.Filters(period=str(year))
    return {
        "by_profile": stats.with_profile_names(stats.ledger(f, "profile"), "profile"),
        "by_sensor": stats.ledger(f, "sensor"),
        "by_family": stats.ledger(f, "family"),
        "by_entity": stats.ledger(f, "entity"),
        "orders": stats.orders_by_state(f),
        "downloads": stats.with_titles(stats.downloads(f)),
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
        "downloads_chart": stats.bars(figures["downloads"], "title", "downloads"),
        "publication_lines": [publication_line(p) for p in publications],
        "map": map,
        "generated": dt.datetime.now(dt.UTC),
    }


def programme_pdf(year: int, report: Report = _quiet) -> bytes:
    check_year(year)
    report(5, "figures")
    figures, publications = programme_figures(year), _publications(year)
    report(30, "map")
    drawn = footprint_map(_delivered_footprints(year))
    report(50, "layout")
    return render_pdf(
        PROGRAMME_TEMPLATE,
        within=LAYOUT_SECONDS,
        **programme_context(year, figures, publications, drawn),
    )
