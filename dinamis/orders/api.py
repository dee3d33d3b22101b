"""/api/v1/tasking-requests and /api/v1/archive-orders: submit, follow, cancel; quotes; staff steps.

Each operation is declared once (`openapi.operation`): its input and answer
models below are what is validated, serialized and documented.
Areas and prices are decimal strings ("150.25"), exact as in the ledger.
A refused request answers 422 with a message per field (API field names),
and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from flask import abort, url_for
from geoalchemy2.shape import to_shape
from pydantic import ConfigDict, Field
from shapely.geometry import box, mapping

from dinamis.accounts.permissions import can_use_api
from dinamis.api.auth import api_account
from dinamis.api.openapi import (
    DECIMAL_PATTERN,
    INT_MAX,
    REFUSED,
    Answer,
    Day,
    Declaration,
    Id,
    Input,
    Link,
    Output,
    Text,
    View,
    api_user_operation,
    camel,
    operation,
)
from dinamis.core import dates
from dinamis.core.columns import values_of
from dinamis.core.errors import ServiceError
from dinamis.core.geo import MAX_VERTICES, parse_aoi
from dinamis.core.permissions import Check, ensure
from dinamis.extensions import db
from dinamis.orders import archive, service
from dinamis.orders.models import Mode, Order, OrderKind, Status, Theme
from dinamis.orders.pdf import order_sheet, quote_pdf_response
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
LONG_TEXT = 20_000  # a Text column's limit for what a person writes
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


# --- input ------------------------------------------------------------------------------------

Position = Annotated[
    list[float],
    Field(
        min_length=2,
        max_length=3,
        description="[longitude, latitude] in degrees (WGS 84); a third value is ignored",
    ),
]
Ring = Annotated[list[Position], Field(min_length=4, max_length=MAX_VERTICES)]


class PolygonIn(Input):
    type: Literal["Polygon"]
    coordinates: Annotated[list[Ring], Field(min_length=1, max_length=1000)]
    bbox: Annotated[list[float], Field(min_length=4, max_length=6)] | None = Field(
        None, description="Ignored"
    )


class MultiPolygonIn(Input):
    type: Literal["MultiPolygon"]
    coordinates: Annotated[
        list[Annotated[list[Ring], Field(min_length=1, max_length=1000)]],
        Field(min_length=1, max_length=1000),
    ]
    bbox: Annotated[list[float], Field(min_length=4, max_length=6)] | None = Field(
        None, description="Ignored"
    )


Aoi = Annotated[
    PolygonIn | MultiPolygonIn,
    Field(discriminator="type", description="A GeoJSON Polygon or MultiPolygon (RFC 7946)"),
]


class WindowIn(Input):
    start: Day
    end: Day


class ProjectIn(Input):
    """The project, as the web form asks it: title, description, justification and theme
    are required (the service's rule, `service.project_errors`, for both)."""

    title: Annotated[str, Text(200, min_length=1)]
    description: Annotated[str, Text(LONG_TEXT, min_length=1)]
    justification: Annotated[str, Text(LONG_TEXT, min_length=1)] = Field(
        description="Why this imagery is needed"
    )
    theme: Literal[values_of(Theme)] = Field(description="What the project is about")  # type: ignore[valid-type]
    funding: Annotated[str, Text(300)] | None = None


def _tasking_example(schema: dict[str, Any]) -> None:
    """A request that is accepted as it stands (its window starts a month from today)."""
    start = dates.today() + dt.timedelta(days=30)
    schema["examples"] = [
        {
            "aoi": mapping(box(2.0, 45.0, 2.15, 45.15)),
            "sensor": "pleiades",
            "window": {
                "start": start.isoformat(),
                "end": (start + dt.timedelta(days=60)).isoformat(),
            },
            "max_cloud_cover": 20,
            "max_incidence_angle": 30,
            "mode": "mono",
            "spectral_mode": "PMS",
            "project": {
                "title": "Coastline",
                "description": "Erosion of the Atlantic coast.",
                "justification": "No cloud-free image since the winter storms.",
                "theme": "coast",
            },
        }
    ]


class TaskingRequest(Input):
    model_config = ConfigDict(json_schema_extra=_tasking_example)

    aoi: Aoi
    sensor: Literal["pleiades", "pleiades-neo", "spot-6-7"]
    window: WindowIn
    max_cloud_cover: Annotated[int, Field(ge=0, le=100)] = 20
    max_incidence_angle: Annotated[int, Field(ge=0, le=60)] = 30
    mode: Literal["mono", "stereo", "tristereo"] = "mono"
    spectral_mode: Literal["PAN", "MS", "PMS", "bundle"] = "PMS"
    project: ProjectIn


class ArchiveItemIn(Input):
    scene_id: Annotated[str, Text(200, min_length=1)]
    aoi: Aoi | None = Field(None, description="Part of the scene to order; the whole by default")


class ArchiveOrder(Input):
    items: Annotated[list[ArchiveItemIn], Field(min_length=1, max_length=archive.MAX_ITEMS)]
    project: ProjectIn


class CancelIn(Input):
    reason: Annotated[str, Text(1000)] | None = None


class StaffStepIn(Input):
    comment: Annotated[str, Text(LONG_TEXT)] = Field("", description="Required to reject")


class DeliveryIn(Input):
    scene_id: Annotated[str, Text(200, min_length=1)] = Field(
        description="The delivered catalogue scene"
    )
    km2: (
        Annotated[
            str,
            Field(
                pattern=DECIMAL_PATTERN,
                description="Corrects the measured km² (a decimal string); needs a reason",
                examples=["150.25"],
            ),
        ]
        | None
    ) = None
    reason: Annotated[str, Text(LONG_TEXT)] | None = Field(
        None, description="Why the measured km² are corrected"
    )


# --- output -----------------------------------------------------------------------------------

Km2 = Annotated[str, Field(description="A decimal string", examples=["150.25"])]


class GeometryOut(Output):
    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class QuoteOut(Output):
    number: str
    status: str
    eur_per_km2: Km2
    tax_rate: str
    valid_until: str


class WindowOut(Output):
    start: str
    end: str


class ProjectOut(Output):
    title: str
    description: str
    justification: str
    theme: str
    funding: str | None


class ItemOut(Output):
    scene_id: str
    km2: Km2
    aoi: GeometryOut | None


class DeliveryOut(Output):
    id: int
    scene_ref: str
    scene_id: str | None
    km2: Km2
    measured_km2: Km2
    correction_reason: str | None
    at: str | None


class EventOut(Output):
    from_: str | None = Field(alias="from")
    to: str
    comment: str | None
    at: str | None


class OrderOut(Output):
    """An order: areas (km²) and prices (EUR) are decimal strings."""

    id: int
    number: str
    kind: Literal["tasking", "archive"]
    status: Literal[values_of(Status)]  # type: ignore[valid-type]
    entity_id: int
    requester_id: int
    sensor: str
    mode: Literal[values_of(Mode)]  # type: ignore[valid-type]
    spectral_mode: str
    family: str
    period: str
    area_km2: Km2
    charged_km2: Km2
    free_km2: Km2
    cofunded_km2: Km2
    delivered_km2: Km2
    price_eur: Km2
    price_eur_including_tax: Km2
    quote: QuoteOut | None
    window: WindowOut | None
    max_cloud_cover: int
    max_incidence_angle: int
    project: ProjectOut
    aoi: GeometryOut
    items: list[ItemOut]
    deliveries: list[DeliveryOut]
    events: list[EventOut]
    submitted_at: str | None


class OrdersOut(Output):
    """One page of orders, newest first."""

    orders: list[OrderOut]
    next: str | None = Field(
        description="The next page (older orders), with the same filters; null on the last"
    )


PAGE_MAX = 500


class OrdersQuery(Input):
    status: Literal[values_of(Status)] | None = None  # type: ignore[valid-type]
    limit: Annotated[int, Field(ge=1, le=PAGE_MAX)] = Field(
        100, description="Orders per page (newest first)"
    )
    before: Id | None = Field(None, description="Orders older than this one (the next page)")


def _decimal(value: Any) -> str:
    return f"{value:.2f}"


def order_json(order: Order) -> OrderOut:
    quote = order.quotes[-1] if order.quotes else None
    return OrderOut.model_validate(
        {
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
    )


def aoi_of(geometry: PolygonIn | MultiPolygonIn, field: str) -> Any:
    """The area of a validated GeoJSON body through `core.geo`; its refusal at `field`."""
    try:
        return parse_aoi(geometry.model_dump(exclude={"bbox"}))
    except ServiceError as exc:
        raise ServiceError(exc.message, fields={field: exc.message}) from None


def _project(project: ProjectIn) -> dict[str, Any]:
    return {
        "project_title": project.title,
        "project_description": project.description,
        "justification": project.justification,
        "theme": project.theme,
        "funding": project.funding or None,
    }


def tasking_request(body: TaskingRequest) -> service.TaskingRequest:
    """The service's request from the validated body; the rules are the service's."""
    return service.TaskingRequest(
        aoi=aoi_of(body.aoi, "aoi"),
        sensor=SENSORS_IN[body.sensor],
        window_start=body.window.start,
        window_end=body.window.end,
        max_cloud_cover=body.max_cloud_cover,
        max_incidence=body.max_incidence_angle,
        mode=body.mode,
        spectral_mode=body.spectral_mode.lower(),
        **_project(body.project),
    )


def archive_request(body: ArchiveOrder) -> archive.ArchiveRequest:
    items = [
        archive.ArchiveItem(
            item.scene_id, aoi_of(item.aoi, f"items.{index}.aoi") if item.aoi else None
        )
        for index, item in enumerate(body.items)
    ]
    return archive.ArchiveRequest(items=items, **_project(body.project))


ORDER = Answer("The order", OrderOut)
CONFLICT = Answer("Not possible in the order's state")
_STEPS = (
    "cancel",
    "quote/accept",
    "quote/decline",
    "accept",
    "reject",
    "close",
)


def _links(kind: str) -> list[Link]:
    """From a created order to what can be done with it next.

    No link to the quote's PDF: an order within the free allowance has no quote,
    and a link promises that what it names exists (schemathesis checks it).
    """
    order_id = {"order_id": "$response.body#/id"}
    links = [
        Link("get", f"getOrder_{kind}", order_id),
        Link("deliver", f"deliver_{kind}", order_id),
    ]
    links += [Link(step.replace("/", "-"), f"{step}_{kind}", order_id) for step in _STEPS]
    return [Link(li.name, camel(li.operation_id), li.parameters) for li in links]


def _submission(kind: str, operation_id: str, body: type[Input]) -> Declaration:
    """A tasking request's or an archive order's submission: POST /{kind}, created once
    (a repeated Idempotency-Key replays the first answer), refused at the API's fields."""
    return api_user_operation(
        f"POST /{kind}",
        operation_id,
        answers={201: Answer("Submitted", OrderOut)},
        links={201: _links(kind)},
        body=body,
        idempotent=True,
        field_names=FIELD_NAMES,
        guard=lambda: service.ensure_can_order(api_account()),
    )


@_submission("tasking-requests", "createTaskingRequest", TaskingRequest)
def create_tasking(body: TaskingRequest) -> OrderOut:
    """Submit a tasking request"""
    return order_json(service.submit_tasking(api_account(), tasking_request(body)))


@_submission("archive-orders", "createArchiveOrder", ArchiveOrder)
def create_archive(body: ArchiveOrder) -> OrderOut:
    """Submit an archive order"""
    return order_json(archive.submit_archive(api_account(), archive_request(body)))


@api_user_operation(
    f"GET /{KIND_PATH}",
    "list_{kind}",
    answers={200: Answer("Orders", OrdersOut)},
    query=OrdersQuery,
)
def list_orders(kind: str, query: OrdersQuery) -> OrdersOut:
    """My orders (the entity's for its Referent, all for staff)"""
    found = service.visible_orders(
        api_account(), query.status, kind=KINDS[kind], before=query.before, limit=query.limit + 1
    )
    page, more = found[: query.limit], len(found) > query.limit
    following = None
    if more:
        args: dict[str, Any] = {"limit": query.limit, "before": page[-1].id}
        if query.status:
            args["status"] = query.status
        following = url_for("api.list_orders", kind=kind, **args)
    return OrdersOut(orders=[order_json(o) for o in page], next=following)


def _load(kind: str, order_id: int) -> Order:
    order = db.session.get(Order, order_id) if order_id <= INT_MAX else None
    if order is None or order.kind != KINDS[kind]:
        abort(404)
    ensure(can_view_order(api_account(), order))
    return order


@api_user_operation(f"GET /{KIND_PATH}/<int:order_id>", "getOrder_{kind}", answers={200: ORDER})
def get_order(kind: str, order_id: int) -> OrderOut:
    """One order with its timeline"""
    return order_json(_load(kind, order_id))


def _visible(kind: str, order_id: int, **_: str) -> None:
    """The order exists and the caller may see it (a guard: checked before the body)."""
    _load(kind, order_id)


def _cancellable(kind: str, order_id: int) -> None:
    """The caller may cancel the order (a guard)."""
    ensure(can_cancel_order(api_account(), _load(kind, order_id)))


def _step(
    step: str, operation_id: str, body: type[Input], *, access: Check, guard: View
) -> Declaration:
    """A step on an order, with an optional comment or reason: POST /{kind}/{id}/{step};
    the order after it, or 409 when its state does not allow the step."""
    return operation(
        f"POST /{KIND_PATH}/<int:order_id>/{step}",
        operation_id,
        access=access,
        answers={200: ORDER, 409: CONFLICT},
        body=body,
        body_required=False,
        guard=guard,
    )


@_step("cancel", "cancel_{kind}", CancelIn, access=can_use_api, guard=_cancellable)
def cancel_order(kind: str, order_id: int, body: CancelIn) -> OrderOut:
    """Cancel the order (the requester or the Referent)"""
    order = _load(kind, order_id)
    service.cancel(api_account(), order, body.reason or None)
    return order_json(order)


@api_user_operation(
    f"GET /{KIND_PATH}/<int:order_id>/quote.pdf",
    "quotePdf_{kind}",
    answers={200: Answer("The quote", media_type="application/pdf")},
)
def quote_document(kind: str, order_id: int) -> Any:
    """The co-funding quote (PDF)"""
    order = _load(kind, order_id)
    if not order.quotes:
        abort(404)
    return quote_pdf_response(order_sheet(order, order.quotes[-1]))


@api_user_operation(
    f"POST /{KIND_PATH}/<int:order_id>/quote/<any(accept, decline):decision>",
    "quote_{decision}_{kind}",
    answers={200: ORDER, 409: CONFLICT, 422: REFUSED},
)
def decide_quote(kind: str, order_id: int, decision: str) -> OrderOut:
    """Accept or decline the co-funding quote (the Referent)"""
    order = _load(kind, order_id)
    ensure(can_decide_quote(api_account(), order))
    service.decide_quote(api_account(), order, decision == "accept")
    return order_json(order)


@_step(
    "<any(accept, reject, close):action>",
    "{action}_{kind}",
    StaffStepIn,
    access=can_review_orders,
    guard=_visible,
)
def staff_step(kind: str, order_id: int, action: str, body: StaffStepIn) -> OrderOut:
    """Staff: accept, reject (a comment is required) or close the order"""
    order = _load(kind, order_id)
    if action == "close":
        service.close(api_account(), order, body.comment)
    else:
        service.review(api_account(), order, action == "accept", body.comment)
    return order_json(order)


@operation(
    f"POST /{KIND_PATH}/<int:order_id>/deliveries",
    "deliver_{kind}",
    access=can_review_orders,
    answers={201: Answer("The order", OrderOut), 409: CONFLICT},
    body=DeliveryIn,
    guard=_visible,
)
def add_delivery(kind: str, order_id: int, body: DeliveryIn) -> Any:
    """Staff: record a delivered catalogue scene (its km² are measured)"""
    order = _load(kind, order_id)
    km2 = Decimal(body.km2) if body.km2 is not None else None
    service.deliver(api_account(), order, body.scene_id, km2, body.reason)
    return order_json(order), 201
