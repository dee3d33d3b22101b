"""Archive orders: scenes of an orderable catalogue collection, each whole or cut to an AOI.

The charged area of an item is the geodesic area of the cut (AOI ∩ footprint)
or of the whole footprint; each must reach the configured minimum (25 km² by
default). One order draws on one sensor's quota family, so its scenes share a
sensor. Submission then follows the same path as tasking: the free part is
reserved, the rest quoted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon
from shapely.ops import unary_union

from dinamis.accounts.models import User
from dinamis.catalogue.models import Access, Scene
from dinamis.catalogue.permissions import may_download, refusal
from dinamis.core import dates
from dinamis.core.errors import ServiceError
from dinamis.core.formats import number as format_number
from dinamis.core.geo import geodesic_km2, polygons
from dinamis.extensions import db
from dinamis.orders import service
from dinamis.orders.models import Mode, Order, OrderItem, OrderKind, Status
from dinamis.quota import service as quota

MAX_ITEMS = 50
SENSOR_OF_FAMILY = service.SENSOR_OF_FAMILY


@dataclass(frozen=True)
class ArchiveItem:
    scene_id: str
    aoi: MultiPolygon | None = None


@dataclass(frozen=True)
class ArchiveRequest:
    items: list[ArchiveItem]
    project_title: str
    project_description: str
    justification: str
    theme: str
    funding: str | None = None


def why_not_orderable(user: User, scene: Scene) -> str | None:
    """Why this member cannot order this scene by archive order, in words; None if they can.

    The collection's rule first (not sold by archive order, or open data to download),
    then its sensor, then the member's profile (the collection's access rule: a member
    orders only what their profile may receive).
    """
    collection = scene.collection
    if not collection.orderable:
        if collection.access == Access.OPEN:
            return _(
                "%(c)s is open data: download its scenes, they are not ordered.",
                c=collection.title,
            )
        return _(
            "The scenes of %(c)s are not sold by archive order (the collection's rule).",
            c=collection.title,
        )
    if SENSOR_OF_FAMILY.get(collection.sensor_family) is None:
        return _("There are no archive orders for the sensor of %(c)s.", c=collection.title)
    if not may_download(user, collection):
        return refusal(user, collection)
    return None


def check_archive(
    actor: User, request: ArchiveRequest
) -> list[tuple[Scene, MultiPolygon | None, Decimal]]:
    """Refuse a request that breaks a rule; return each scene, its cut and its km²."""
    minimum = service.settings().archive_min_km2
    errors: dict[str, str] = {}
    checked = []
    if not request.items:
        errors["items"] = _("Choose at least one scene.")
    elif len(request.items) > MAX_ITEMS:
        errors["items"] = _("An archive order holds at most %(n)d scenes.", n=MAX_ITEMS)
    seen: set[str] = set()
    sensors: set[str] = set()
    for index, item in enumerate(request.items[:MAX_ITEMS]):
        field = f"items.{index}"
        scene = db.session.get(Scene, item.scene_id)
        if scene is None:
            errors[field] = _("There is no scene %(id)s in the catalogue.", id=item.scene_id[:200])
            continue
        if item.scene_id in seen:
            errors[field] = _("Scene %(id)s is listed twice.", id=scene.id)
            continue
        seen.add(item.scene_id)
        reason = why_not_orderable(actor, scene)
        if reason is not None:
            errors[field] = _("Scene %(id)s cannot be ordered: %(why)s", id=scene.id, why=reason)
            continue
        sensor = SENSOR_OF_FAMILY[scene.collection.sensor_family]
        sensors.add(sensor)
        footprint = to_shape(scene.footprint)
        cut = None
        if item.aoi is not None:
            cut = polygons(item.aoi.intersection(footprint))
            if cut.is_empty:
                errors[field] = _("The cut of scene %(id)s misses its footprint.", id=scene.id)
                continue
        area = geodesic_km2(cut if cut is not None else footprint)
        if area < minimum:
            errors[field] = _(
                "The cut of scene %(id)s covers %(area)s km²; an archive order needs at least "
                "%(min)s km² per scene.",
                id=scene.id,
                area=format_number(area),
                min=format_number(minimum),
            )
            continue
        checked.append((scene, cut, area))
    if len(sensors) > 1:
        errors["items"] = _("Scenes of different sensors go in separate orders.")
    errors.update(service.project_errors(request))
    if errors:
        raise ServiceError(next(iter(errors.values())), fields=errors)
    return checked


def submit_archive(actor: User, request: ArchiveRequest, today: dt.date | None = None) -> Order:
    """Create and submit an archive order; reserve its free part, quote the rest."""
    service.ensure_can_order(actor)
    today = today or dates.today()
    checked = check_archive(actor, request)
    sensor = SENSOR_OF_FAMILY[checked[0][0].collection.sensor_family]
    shapes = [cut if cut is not None else to_shape(scene.footprint) for scene, cut, _a in checked]
    union = polygons(unary_union(shapes))
    charged = quota.km2(sum((area for _s, _c, area in checked), Decimal(0)))
    order = service.new_order(
        kind=OrderKind.ARCHIVE,
        status=Status.DRAFT,
        entity_id=actor.entity_id,
        requester_id=actor.id,
        sensor=sensor,
        aoi=from_shape(union, srid=4326),
        aoi_km2=geodesic_km2(union),
        mode=Mode.MONO,
        charged_km2=charged,
        family=service.family_of(OrderKind.ARCHIVE, sensor),
        period=quota.period_for(today),
        project_title=request.project_title.strip(),
        project_description=request.project_description.strip(),
        justification=request.justification.strip(),
        theme=request.theme.strip(),
        funding=(request.funding or "").strip() or None,
    )
    for scene, cut, area in checked:
        order.items.append(
            OrderItem(
                scene_id=scene.id,
                cut=from_shape(cut, srid=4326) if cut is not None else None,
                km2=area,
            )
        )
    return service.submit(actor, order)
