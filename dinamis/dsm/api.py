"""/api/v1/dsm-requests: ask for a surface model from a stereo group, follow it, cancel it.

Each operation is declared once (`openapi.operation`). Areas and prices are
decimal strings; a refused request is a 422 with a message per field (API
field names) and writes nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from flask import url_for
from geoalchemy2.shape import to_shape
from pydantic import ConfigDict, Field
from shapely.geometry import mapping

from dinamis.accounts.models import User
from dinamis.api.auth import api_account
from dinamis.api.openapi import (
    DECIMAL_PATTERN,
    REFUSED,
    Answer,
    Input,
    Link,
    Output,
    Text,
    api_user_operation,
)
from dinamis.core.columns import values_of
from dinamis.core.loading import get_allowed
from dinamis.core.permissions import ensure
from dinamis.dsm import service
from dinamis.dsm.models import DsmRequest, DsmStatus
from dinamis.dsm.pdf import quote_sheet
from dinamis.dsm.permissions import (
    can_cancel_dsm_request,
    can_decide_dsm_quote,
    can_see_dsm_log,
    can_view_dsm_request,
)
from dinamis.orders.api import LONG_TEXT, Aoi, CancelIn, GeometryOut, aoi_of
from dinamis.orders.models import Theme
from dinamis.orders.pdf import quote_pdf_response

FIELD_NAMES = {
    "project_title": "project.title",
    "project_description": "project.description",
    "theme": "project.theme",
}


class DsmProjectIn(Input):
    title: Annotated[str, Text(200, min_length=1)]
    description: Annotated[str, Text(LONG_TEXT, min_length=1)]
    theme: Literal[values_of(Theme)] = "other"  # type: ignore[valid-type]


def _example(schema: dict[str, Any]) -> None:
    schema["examples"] = [
        {
            "scene_id": "PLEIADES-1A_20240512_0001",
            "resolution_m": "1",
            "project": {"title": "Dune heights", "description": "Sediment budget of the dunes."},
        }
    ]


class DsmRequestIn(Input):
    model_config = ConfigDict(json_schema_extra=_example)

    scene_id: Annotated[str, Text(200, min_length=1)] = Field(
        description="A scene of a stereo or tri-stereo group (dinamis:stereo_group)"
    )
    aoi: Aoi | None = Field(
        None, description="Inside the group's common footprint; the whole overlap by default"
    )
    resolution_m: (
        Annotated[
            str,
            Field(
                pattern=DECIMAL_PATTERN,
                description="Output resolution in metres, one of those offered (multiples of "
                "the sensor's GSD); twice the GSD by default",
                examples=["1"],
            ),
        ]
        | None
    ) = None
    project: DsmProjectIn


Km2 = Annotated[str, Field(description="A decimal string", examples=["12.50"])]


class DsmProjectOut(Output):
    title: str
    description: str
    theme: str


class DsmQuoteOut(Output):
    status: Literal["pending", "accepted", "declined", "expired"]
    eur_per_km2: Km2
    excluding_tax: Km2
    tax_rate: str
    including_tax: Km2
    valid_until: str | None


class FailureOut(Output):
    code: str
    message: str = Field(description="Why, in the request's language")
    detail: str | None = Field(description="The engine's own message (staff only)")


class ProductOut(Output):
    item_id: str
    collection: str
    stac_item: str = Field(description="The STAC item of the surface model")
    dsm: str = Field(description="The Cloud-Optimized GeoTIFF (licensed download)")
    hillshade: str = Field(description="The shaded-relief quicklook")


class DsmEventOut(Output):
    from_: str | None = Field(alias="from")
    to: str
    note: str | None
    at: str | None


class DsmRequestOut(Output):
    """A surface-model request; areas (km²) and prices (EUR) are decimal strings."""

    id: int
    number: str
    status: Literal[values_of(DsmStatus)]  # type: ignore[valid-type]
    entity_id: int
    requester_id: int
    scene_id: str
    stereo_group: str
    source_scene_ids: list[str]
    aoi: GeometryOut
    area_km2: Km2
    charged_km2: Km2
    free_km2: Km2
    cofunded_km2: Km2
    family: str
    period: str
    resolution_m: str
    project: DsmProjectOut
    quote: DsmQuoteOut | None
    progress: int = Field(description="Percent done while running")
    progress_message: str | None
    attempts: int
    failure: FailureOut | None
    product: ProductOut | None
    events: list[DsmEventOut]
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class DsmRequestsOut(Output):
    dsm_requests: list[DsmRequestOut]


class DsmRequestsQuery(Input):
    status: Literal[values_of(DsmStatus)] | None = None  # type: ignore[valid-type]


def _decimal(value: Any) -> str:
    return f"{value:.2f}"


def _at(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def request_json(request: DsmRequest, viewer: User | None = None) -> DsmRequestOut:
    staff = viewer is not None and can_see_dsm_log(viewer)
    product = None
    if request.item_id:
        item = request.item_id
        product = {
            "item_id": item,
            "collection": service.COLLECTION,
            "stac_item": url_for(
                "stac.item", collection_id=service.COLLECTION, item_id=item, _external=True
            ),
            "dsm": url_for("catalogue.download", scene_id=item, key="dsm", _external=True),
            "hillshade": url_for("catalogue.quicklook", scene_id=item, _external=True),
        }
    return DsmRequestOut.model_validate(
        {
            "id": request.id,
            "number": request.number,
            "status": request.status,
            "entity_id": request.entity_id,
            "requester_id": request.requester_id,
            "scene_id": request.scene_id,
            "stereo_group": request.stereo_group,
            "source_scene_ids": list(request.source_ids),
            "aoi": mapping(to_shape(request.aoi)),
            "area_km2": _decimal(request.aoi_km2),
            "charged_km2": _decimal(request.charged_km2),
            "free_km2": _decimal(request.free_km2),
            "cofunded_km2": _decimal(request.cofunded_km2),
            "family": request.family,
            "period": request.period,
            "resolution_m": str(request.resolution_m.normalize()),
            "project": {
                "title": request.project_title,
                "description": request.project_description,
                "theme": request.theme,
            },
            "quote": (
                {
                    "status": service.quote_state(request),
                    "eur_per_km2": _decimal(request.eur_per_km2),
                    "excluding_tax": _decimal(request.excluding_tax),
                    "tax_rate": str(request.tax_rate),
                    "including_tax": _decimal(request.including_tax),
                    "valid_until": _at(request.quote_valid_until),
                }
                if request.eur_per_km2 is not None
                else None
            ),
            "progress": request.progress,
            "progress_message": request.progress_message,
            "attempts": request.attempts,
            "failure": (
                {
                    "code": request.failure_code,
                    "message": service.failure_text(request.failure_code),
                    "detail": request.failure_detail if staff else None,
                }
                if request.status == DsmStatus.FAILED and request.failure_code
                else None
            ),
            "product": product,
            "events": [
                {
                    "from": e.from_status,
                    "to": e.to_status,
                    "note": service.event_note(e),
                    "at": _at(e.created_at),
                }
                for e in request.events
            ],
            "created_at": _at(request.created_at),
            "started_at": _at(request.started_at),
            "finished_at": _at(request.finished_at),
        }
    )


def ask_of(body: DsmRequestIn) -> service.DsmAsk:
    return service.DsmAsk(
        scene_id=body.scene_id,
        aoi=aoi_of(body.aoi, "aoi") if body.aoi is not None else None,
        resolution_m=Decimal(body.resolution_m) if body.resolution_m is not None else None,
        project_title=body.project.title,
        project_description=body.project.description,
        theme=body.project.theme,
    )


REQUEST = Answer("The surface-model request", DsmRequestOut)
CONFLICT = Answer("Not possible in the request's state")
_ID = {"request_id": "$response.body#/id"}


@api_user_operation(
    "POST /dsm-requests",
    "createDsmRequest",
    answers={201: Answer("Submitted", DsmRequestOut)},
    body=DsmRequestIn,
    idempotent=True,
    field_names=FIELD_NAMES,
    links={
        201: [
            Link("get", "getDsmRequest", _ID),
            Link("cancel", "cancelDsmRequest", _ID),
        ]
    },
    guard=lambda: service.ensure_can_request(api_account()),
)
def create_dsm_request(body: DsmRequestIn) -> DsmRequestOut:
    """Ask for a surface model (DSM) from a stereo or tri-stereo group

    The charged km² are the AOI's geodesic area, on the `dsm` quota family: the free
    allowance first; beyond it the request waits for the Referent to accept a
    co-funding quote. Then a worker computes it (CARS): follow `status` and `progress`.
    """
    user = api_account()
    return request_json(service.submit(user, ask_of(body)), user)


@api_user_operation(
    "GET /dsm-requests",
    "listDsmRequests",
    answers={200: Answer("Requests", DsmRequestsOut)},
    query=DsmRequestsQuery,
)
def list_dsm_requests(query: DsmRequestsQuery) -> DsmRequestsOut:
    """My surface-model requests (the entity's for its Referent, all for staff)"""
    user = api_account()
    found = service.visible_requests(user, query.status)
    return DsmRequestsOut(dsm_requests=[request_json(r, user) for r in found])


def _load(request_id: int) -> DsmRequest:
    return get_allowed(DsmRequest, request_id, api_account(), can_view_dsm_request)


@api_user_operation("GET /dsm-requests/<int:request_id>", "getDsmRequest", answers={200: REQUEST})
def get_dsm_request(request_id: int) -> DsmRequestOut:
    """One surface-model request: state, progress, timeline, product"""
    return request_json(_load(request_id), api_account())


@api_user_operation(
    "POST /dsm-requests/<int:request_id>/cancel",
    "cancelDsmRequest",
    answers={200: REQUEST, 409: CONFLICT},
    body=CancelIn,
    body_required=False,
    guard=lambda request_id: ensure(can_cancel_dsm_request(api_account(), _load(request_id))),
)
def cancel_dsm_request(request_id: int, body: CancelIn) -> DsmRequestOut:
    """Cancel the request (a running computation is stopped); its km² are released"""
    request = _load(request_id)
    service.cancel(api_account(), request, body.reason or None)
    return request_json(request, api_account())


@api_user_operation(
    "POST /dsm-requests/<int:request_id>/quote/<any(accept, decline):decision>",
    "quote_{decision}_dsm",
    answers={200: REQUEST, 409: CONFLICT, 422: REFUSED},
    guard=lambda request_id, decision: ensure(
        can_decide_dsm_quote(api_account(), _load(request_id))
    ),
)
def decide_dsm_quote(request_id: int, decision: str) -> DsmRequestOut:
    """Accept or decline the co-funding quote (the Referent)"""
    request = _load(request_id)
    service.decide_quote(api_account(), request, decision == "accept")
    return request_json(request, api_account())


@api_user_operation(
    "GET /dsm-requests/<int:request_id>/quote.pdf",
    "quotePdfDsm",
    answers={200: Answer("The quote", media_type="application/pdf")},
)
def dsm_quote_document(request_id: int) -> Any:
    """The co-funding quote (PDF), as an order's"""
    return quote_pdf_response(quote_sheet(_load(request_id)))
