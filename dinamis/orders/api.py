"""/api/v1/tasking-requests and /api/v1/archive-orders: submit, follow, cancel; quotes; staff steps.

Areas and prices are decimal strings ("150.25"), exact as in the ledger.
A refused request answers 422 with a message per field (API field names),
and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, abort, jsonify, request
from flask_babel import gettext as _
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping

from dinamis.accounts.permissions import can_use_api
from dinamis.api import idempotency, openapi
from dinamis.api.auth import api_user
from dinamis.api.views import bp, json_body
from dinamis.core.errors import ServiceError
from dinamis.core.geo import parse_aoi
from dinamis.core.permissions import ensure, requires
from dinamis.extensions import db
from dinamis.orders import archive, service
from dinamis.orders.models import Order, OrderKind
from dinamis.orders.pdf import quote_pdf_response
from dinamis.orders.permissions import (
    can_cancel_order,
    can_decide_quote,
    can_review_orders,
    can_view_order,
)

KINDS = {"tasking-requests": OrderKind.TASKING, "archive-orders": OrderKind.ARCHIVE}
KIND_PATH = "<any('tasking-requests', 'archive-orders'):kind>"
SENSORS_IN = {"pleiades": "pleiades", "pleiades-neo": "pleiades-neo", "spot-6-7": "spot"}
SENSORS_OUT = {v: k for k, v in SENSORS_IN.items()}
# The service's field names, as the API names them.
FIELD_NAMES = {
    "window_start": "window.start",
    "window_end": "window.end",
    "max_incidence": "max_incidence_angle",
    "project_title": "project.title",
    "project_description": "project.description",
    "justification": "project.justification",
    "theme": "project.theme",
}


def _decimal(value: Any) -> str:
    return f"{value:.2f}"


def order_json(order: Order) -> dict[str, Any]:
    quote = order.quotes[-1] if order.quotes else None
    return {
        "id": order.id,
        "number": order.number,
        "kind": order.kind,
        "status": order.status,
        "entity_id": order.entity_id,
        "requester_id": order.requester_id,
        "sensor": SENSORS_OUT.get(order.sensor, order.sensor),
        "mode": order.mode,
        "spectral_mode": order.spectral_mode.upper(),
        "family": order.family,
        "period": order.period,
        "area_km2": _decimal(order.aoi_km2),
        "charged_km2": _decimal(order.charged_km2),
        "free_km2": _decimal(order.free_km2),
        "cofunded_km2": _decimal(order.cofunded_km2),
        "delivered_km2": _decimal(order.delivered_km2),
        "price_eur": _decimal(quote.excluding_tax) if quote else "0.00",
        "price_eur_including_tax": _decimal(quote.including_tax) if quote else "0.00",
        "quote": (
            {
                "number": quote.number,
                "status": quote.status,
                "eur_per_km2": _decimal(quote.eur_per_km2),
                "tax_rate": str(quote.tax_rate),
                "valid_until": quote.valid_until.isoformat(),
            }
            if quote
            else None
        ),
        "window": (
            {"start": order.window_start.isoformat(), "end": order.window_end.isoformat()}
            if order.window_start and order.window_end
            else None
        ),
        "max_cloud_cover": order.max_cloud_cover,
        "max_incidence_angle": order.max_incidence,
        "project": {
            "title": order.project_title,
            "description": order.project_description,
            "justification": order.justification,
            "theme": order.theme,
            "funding": order.funding,
        },
        "aoi": mapping(to_shape(order.aoi)),
        "items": [
            {
                "scene_id": item.scene_id,
                "km2": _decimal(item.km2),
                "aoi": mapping(to_shape(item.cut)) if item.cut is not None else None,
            }
            for item in order.items
        ],
        "deliveries": [
            {
                "id": d.id,
                "scene_ref": d.scene_ref,
                "scene_id": d.scene_id,
                "km2": _decimal(d.km2),
                "measured_km2": _decimal(d.computed_km2),
                "correction_reason": d.correction_reason,
                "at": d.created_at.isoformat() if d.created_at else None,
            }
            for d in order.deliveries
        ],
        "events": [
            {
                "from": e.from_status,
                "to": e.to_status,
                "comment": e.comment,
                "at": e.created_at.isoformat() if e.created_at else None,
            }
            for e in order.events
        ],
        "submitted_at": order.submitted_at.isoformat() if order.submitted_at else None,
    }


def _text(data: dict[str, Any], name: str, errors: dict[str, str], prefix: str = "") -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[f"{prefix}{name}"] = _("Must be text.")
        return ""
    return value


def _whole(data: dict[str, Any], name: str, default: int, errors: dict[str, str]) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        errors[name] = _("Must be a whole number.")
        return default
    return int(value)


def _date(value: Any, name: str, errors: dict[str, str]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        errors[name] = _("Must be a date (YYYY-MM-DD).")
        return None


def _project(data: dict[str, Any], errors: dict[str, str]) -> dict[str, str]:
    project = data.get("project")
    if not isinstance(project, dict):
        errors["project"] = _('Give the project: {"title": ..., "description": ...}.')
        return {}
    fields = {n: _text(project, n, errors, "project.") for n in ("title", "description")}
    fields["justification"] = _text(project, "justification", errors, "project.") or fields.get(
        "description", ""
    )
    fields["theme"] = _text(project, "theme", errors, "project.") or "other"
    fields["funding"] = _text(project, "funding", errors, "project.")
    return fields


def _refuse(errors: dict[str, str]) -> None:
    if errors:
        raise ServiceError(next(iter(errors.values())), fields=errors)


def parse_tasking(data: dict[str, Any]) -> service.TaskingRequest:
    """The request's fields, checked for type; the rules are the service's."""
    errors: dict[str, str] = {}
    aoi = None
    try:
        aoi = parse_aoi(data.get("aoi") or {})
    except ServiceError as exc:
        errors["aoi"] = exc.message
    sensor = SENSORS_IN.get(str(data.get("sensor")))
    if sensor is None:
        errors["sensor"] = _("One of: %(v)s.", v=", ".join(SENSORS_IN))
    window = data.get("window")
    start = end = None
    if not isinstance(window, dict):
        errors["window"] = _('Give the window: {"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}.')
    else:
        start = _date(window.get("start"), "window.start", errors)
        end = _date(window.get("end"), "window.end", errors)
    cloud = _whole(data, "max_cloud_cover", 20, errors)
    incidence = _whole(data, "max_incidence_angle", 30, errors)
    mode = _text(data, "mode", errors) or "mono"
    spectral = (_text(data, "spectral_mode", errors) or "PMS").lower()
    project = _project(data, errors)
    _refuse(errors)
    assert aoi is not None and sensor is not None and start is not None and end is not None
    return service.TaskingRequest(
        aoi=aoi,
        sensor=sensor,
        window_start=start,
        window_end=end,
        max_cloud_cover=cloud,
        max_incidence=incidence,
        mode=mode,
        spectral_mode=spectral,
        project_title=project["title"],
        project_description=project["description"],
        justification=project["justification"],
        theme=project["theme"],
        funding=project["funding"] or None,
    )


def parse_archive(data: dict[str, Any]) -> archive.ArchiveRequest:
    errors: dict[str, str] = {}
    raw_items = data.get("items")
    items: list[archive.ArchiveItem] = []
    if not isinstance(raw_items, list) or not raw_items:
        errors["items"] = _('Give the scenes: [{"scene_id": ..., "aoi": <optional GeoJSON>}].')
    else:
        for index, raw in enumerate(raw_items[: archive.MAX_ITEMS + 1]):
            if not isinstance(raw, dict) or not isinstance(raw.get("scene_id"), str):
                errors[f"items.{index}"] = _("Each item needs a scene_id.")
                continue
            cut = None
            if raw.get("aoi") is not None:
                try:
                    cut = parse_aoi(raw["aoi"])
                except ServiceError as exc:
                    errors[f"items.{index}.aoi"] = exc.message
                    continue
            items.append(archive.ArchiveItem(raw["scene_id"], cut))
    project = _project(data, errors)
    _refuse(errors)
    return archive.ArchiveRequest(
        items=items,
        project_title=project["title"],
        project_description=project["description"],
        justification=project["justification"],
        theme=project["theme"],
        funding=project["funding"] or None,
    )


def _renamed(error: ServiceError) -> ServiceError:
    fields = {FIELD_NAMES.get(k, k): v for k, v in error.fields.items()}
    renamed = type(error)(error.message, fields=fields)
    return renamed


def _create(parse: Any, submit: Any) -> Any:
    """Submit an order from the JSON body; a repeated Idempotency-Key replays the first answer."""
    user = api_user()
    service.ensure_can_order(user)
    data = json_body()
    claimed = idempotency.claim(user, data)
    if isinstance(claimed, Response):
        return claimed
    try:
        order = submit(user, parse(data))
    except ServiceError as error:
        raise _renamed(error) from None
    return idempotency.answer(claimed, order_json(order), 201)


@bp.route("/tasking-requests", methods=["POST"])
@requires(can_use_api, api=True)
def create_tasking() -> Any:
    return _create(parse_tasking, service.submit_tasking)


@bp.route("/archive-orders", methods=["POST"])
@requires(can_use_api, api=True)
def create_archive() -> Any:
    return _create(parse_archive, archive.submit_archive)


@bp.route(f"/{KIND_PATH}")
@requires(can_use_api, api=True)
def list_orders(kind: str) -> Any:
    status = request.args.get("status") or None
    orders = [o for o in service.visible_orders(api_user(), status) if o.kind == KINDS[kind]]
    return jsonify({"orders": [order_json(o) for o in orders]})


def _load(kind: str, order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or order.kind != KINDS[kind]:
        abort(404)
    ensure(can_view_order(api_user(), order))
    return order


@bp.route(f"/{KIND_PATH}/<int:order_id>")
@requires(can_use_api, api=True)
def get_order(kind: str, order_id: int) -> Any:
    return jsonify(order_json(_load(kind, order_id)))


@bp.route(f"/{KIND_PATH}/<int:order_id>/cancel", methods=["POST"])
@requires(can_use_api, api=True)
def cancel_order(kind: str, order_id: int) -> Any:
    order = _load(kind, order_id)
    ensure(can_cancel_order(api_user(), order))
    reason = json_body().get("reason") if request.data else None
    service.cancel(api_user(), order, str(reason)[:1000] if reason else None)
    return jsonify(order_json(order))


@bp.route(f"/{KIND_PATH}/<int:order_id>/quote.pdf")
@requires(can_use_api, api=True)
def quote_document(kind: str, order_id: int) -> Any:
    order = _load(kind, order_id)
    if not order.quotes:
        abort(404)
    return quote_pdf_response(order, order.quotes[-1])


@bp.route(f"/{KIND_PATH}/<int:order_id>/quote/<any(accept, decline):decision>", methods=["POST"])
@requires(can_use_api, api=True)
def decide_quote(kind: str, order_id: int, decision: str) -> Any:
    order = _load(kind, order_id)
    ensure(can_decide_quote(api_user(), order))
    service.decide_quote(api_user(), order, decision == "accept")
    return jsonify(order_json(order))


@bp.route(f"/{KIND_PATH}/<int:order_id>/<any(accept, reject, close):action>", methods=["POST"])
@requires(can_review_orders, api=True)
def staff_step(kind: str, order_id: int, action: str) -> Any:
    order = _load(kind, order_id)
    data = json_body() if request.data else {}
    comment = data.get("comment") or ""
    if not isinstance(comment, str):
        raise ServiceError(_("comment must be text."), fields={"comment": _("Must be text.")})
    if action == "close":
        service.close(api_user(), order, comment)
    else:
        service.review(api_user(), order, action == "accept", comment)
    return jsonify(order_json(order))


@bp.route(f"/{KIND_PATH}/<int:order_id>/deliveries", methods=["POST"])
@requires(can_review_orders, api=True)
def add_delivery(kind: str, order_id: int) -> Any:
    from decimal import Decimal, InvalidOperation

    order = _load(kind, order_id)
    data = json_body()
    scene = data.get("scene_id") or data.get("scene_ref")
    if not isinstance(scene, str):
        raise ServiceError(_("Name the delivered scene."), fields={"scene_id": _("Required.")})
    # km2 is measured; a given km2 corrects it and needs a reason.
    km2 = None
    if data.get("km2") is not None:
        try:
            km2 = Decimal(str(data.get("km2")))
        except InvalidOperation:
            raise ServiceError(
                _("km2 must be a number."), fields={"km2": _("A number of km².")}
            ) from None
        if not km2.is_finite():
            raise ServiceError(_("km2 must be a number."), fields={"km2": _("A number of km².")})
    reason = data.get("reason")
    service.deliver(api_user(), order, scene, km2, reason if isinstance(reason, str) else None)
    return idempotency.answer(None, order_json(order), 201)


_ORDER_REF = {"$ref": "#/components/schemas/Order"}
_JSON_ORDER = {"content": {"application/json": {"schema": _ORDER_REF}}}
_REFUSED = openapi.error_response("Refused: a message per field in error.fields; nothing written")
for _path, _method, _summary, _id in (
    ("/tasking-requests", "post", "Submit a tasking request", "createTaskingRequest"),
    ("/archive-orders", "post", "Submit an archive order", "createArchiveOrder"),
):
    openapi.document(
        _path,
        _method,
        {
            "summary": _summary,
            "operationId": _id,
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 200},
                    "description": "Repeating a request with the same key replays its answer.",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "$ref": "#/components/schemas/"
                            + ("TaskingRequest" if "tasking" in _path else "ArchiveOrder")
                        }
                    }
                },
            },
            "responses": {
                "201": {"description": "Submitted", **_JSON_ORDER},
                "400": openapi.error_response("Malformed JSON"),
                "422": _REFUSED,
            },
        },
    )
for _kind in KINDS:
    openapi.document(
        f"/{_kind}",
        "get",
        {
            "summary": f"My {_kind} (the entity's for its Referent, all for staff)",
            "operationId": f"list{_kind.title().replace('-', '')}",
            "parameters": [{"name": "status", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "Orders"}},
        },
    )
    openapi.document(
        f"/{_kind}/{{id}}",
        "get",
        {
            "summary": "One order with its timeline",
            "operationId": f"get{_kind.title().replace('-', '')}",
            "parameters": [{"name": "id", "in": "path", "required": True}],
            "responses": {"200": {"description": "The order", **_JSON_ORDER}},
        },
    )
    for _step, _who in (
        ("cancel", "the requester or the Referent"),
        ("quote/accept", "the Referent"),
        ("quote/decline", "the Referent"),
        ("accept", "staff"),
        ("reject", 'staff; body {"comment": ...} required'),
        (
            "deliveries",
            'staff; body {"scene_id": ...}: the km² are measured; '
            '"km2" with "reason" corrects them',
        ),
        ("close", "staff"),
    ):
        openapi.document(
            f"/{_kind}/{{id}}/{_step}",
            "post",
            {
                "summary": f"{_step} ({_who})",
                "operationId": f"{_step.replace('/', '_')}_{_kind.replace('-', '_')}",
                "parameters": [{"name": "id", "in": "path", "required": True}],
                "responses": {
                    "200": {"description": "The order", **_JSON_ORDER},
                    "409": openapi.error_response("Not possible in the order's state"),
                    "422": _REFUSED,
                },
            },
        )
    openapi.document(
        f"/{_kind}/{{id}}/quote.pdf",
        "get",
        {
            "summary": "The co-funding quote (PDF)",
            "operationId": f"quote_{_kind.replace('-', '_')}",
            "parameters": [{"name": "id", "in": "path", "required": True}],
            "responses": {"200": {"description": "PDF", "content": {"application/pdf": {}}}},
        },
    )
_PROJECT = {
    "type": "object",
    "required": ["title", "description"],
    "properties": {
        "title": {"type": "string"},
        "description": {"type": "string"},
        "justification": {"type": "string"},
        "theme": {"type": "string"},
        "funding": {"type": "string"},
    },
}
openapi.schema(
    "TaskingRequest",
    {
        "type": "object",
        "required": ["aoi", "sensor", "window", "project"],
        "properties": {
            "aoi": {"type": "object", "description": "GeoJSON Polygon or MultiPolygon"},
            "sensor": {"enum": list(SENSORS_IN)},
            "window": {
                "type": "object",
                "properties": {
                    "start": {"type": "string", "format": "date"},
                    "end": {"type": "string", "format": "date"},
                },
            },
            "max_cloud_cover": {"type": "integer", "minimum": 0, "maximum": 100},
            "max_incidence_angle": {"type": "integer", "minimum": 0, "maximum": 60},
            "mode": {"enum": ["mono", "stereo", "tristereo"]},
            "spectral_mode": {"enum": ["PAN", "MS", "PMS", "bundle"]},
            "project": _PROJECT,
        },
    },
)
openapi.schema(
    "ArchiveOrder",
    {
        "type": "object",
        "required": ["items", "project"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["scene_id"],
                    "properties": {"scene_id": {"type": "string"}, "aoi": {"type": "object"}},
                },
            },
            "project": _PROJECT,
        },
    },
)
openapi.schema(
    "Order",
    {
        "type": "object",
        "description": "Areas (km²) and prices (EUR, excluding tax) are decimal strings.",
        "properties": {
            "id": {"type": "integer"},
            "number": {"type": "string"},
            "kind": {"enum": ["tasking", "archive"]},
            "status": {"type": "string"},
            "area_km2": {"type": "string"},
            "charged_km2": {"type": "string"},
            "free_km2": {"type": "string"},
            "cofunded_km2": {"type": "string"},
            "price_eur": {"type": "string"},
        },
    },
)
