"""/api/v1/saved-searches: save, list, read, change and delete saved searches.

Each operation is declared once (`openapi.operation`): its models below are what is
validated, serialized and documented. A saved search's `links` give the body of the
STAC search (`POST /stac/search`) that finds what it watches for.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Annotated, Any, Literal

from flask import Response, url_for
from flask_babel import gettext as _
from pydantic import Field
from shapely.geometry import mapping

from dinamis.alerts import service
from dinamis.alerts.models import Frequency, SavedSearch
from dinamis.alerts.permissions import can_save_searches
from dinamis.api.auth import api_account
from dinamis.api.openapi import Answer, Day, Id, Input, Link, Output, Text, operation
from dinamis.core.columns import values_of
from dinamis.core.errors import ServiceError
from dinamis.orders.api import Aoi, GeometryOut, aoi_of

# The service's field names, as the API names them.
FIELD_NAMES = {
    "aoi": "area",
    "date_from": "start",
    "date_to": "end",
    "max_cloud": "max_cloud_cover",
    "max_incidence": "max_incidence_angle",
}
Mode = Literal["PAN", "MS", "PMS", "bundle"]
CollectionId = Annotated[str, Text(100, min_length=1)]


class SavedSearchIn(Input):
    name: Annotated[str, Text(200, min_length=1)]
    area: Aoi
    start: Day | None = Field(
        None, description="First acquisition day; today (from now on) when omitted"
    )
    end: Day | None = Field(None, description="Last acquisition day; none: no end")
    collections: Annotated[list[CollectionId], Field(max_length=50)] = Field(
        default_factory=list, description="Collection ids; empty: every collection"
    )
    max_cloud_cover: Annotated[int, Field(ge=0, le=100)] | None = None
    max_incidence_angle: Annotated[int, Field(ge=0, le=90)] | None = None
    spectral_modes: Annotated[list[Mode], Field(max_length=4)] = Field(default_factory=list)
    stereo_only: bool = False
    frequency: Literal[values_of(Frequency)] = Frequency.DAILY  # type: ignore[valid-type]
    channel: Literal["email", "webhook"] = "email"
    webhook_id: Id | None = Field(None, description="With channel webhook: one of my webhooks")


class SavedSearchPatch(Input):
    """The fields to change; `active: false` pauses the alerts, `true` resumes them."""

    name: Annotated[str, Text(200, min_length=1)] | None = None
    area: Aoi | None = None
    start: Day | None = None
    end: Day | None = None
    collections: Annotated[list[CollectionId], Field(max_length=50)] | None = None
    max_cloud_cover: Annotated[int, Field(ge=0, le=100)] | None = None
    max_incidence_angle: Annotated[int, Field(ge=0, le=90)] | None = None
    spectral_modes: Annotated[list[Mode], Field(max_length=4)] | None = None
    stereo_only: bool | None = None
    frequency: Literal[values_of(Frequency)] | None = None  # type: ignore[valid-type]
    channel: Literal["email", "webhook"] | None = None
    webhook_id: Id | None = None
    active: bool | None = None


class LinkOut(Output):
    rel: str
    href: str
    method: str
    type: str
    body: dict[str, Any] | None = Field(description="For rel `search`: the STAC search body")


class SavedSearchOut(Output):
    id: int
    name: str
    area: GeometryOut
    start: str
    end: str | None
    collections: list[str]
    max_cloud_cover: str | None = Field(description="A decimal string")
    max_incidence_angle: str | None = Field(description="A decimal string")
    spectral_modes: list[str]
    stereo_only: bool
    frequency: Literal[values_of(Frequency)]  # type: ignore[valid-type]
    channel: str
    webhook_id: int | None
    active: bool
    created_at: str | None
    links: list[LinkOut]


class SavedSearchesOut(Output):
    saved_searches: list[SavedSearchOut]


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.normalize():f}"


def saved_json(saved: SavedSearch) -> SavedSearchOut:
    area = mapping(service.area_of(saved))
    return SavedSearchOut.model_validate(
        {
            "id": saved.id,
            "name": saved.name,
            "area": area,
            "start": saved.date_from.isoformat(),
            "end": saved.date_to.isoformat() if saved.date_to else None,
            "collections": list(saved.collections),
            "max_cloud_cover": _decimal(saved.max_cloud),
            "max_incidence_angle": _decimal(saved.max_incidence),
            "spectral_modes": list(saved.spectral_modes),
            "stereo_only": saved.stereo_only,
            "frequency": saved.frequency,
            "channel": saved.channel,
            "webhook_id": saved.webhook_id,
            "active": saved.active,
            "created_at": saved.created_at.isoformat() if saved.created_at else None,
            "links": [
                {
                    "rel": "self",
                    "href": url_for("api.get_saved_search", saved_id=saved.id, _external=True),
                    "method": "GET",
                    "type": "application/json",
                    "body": None,
                },
                {
                    "rel": "search",
                    "href": url_for("stac.search_items", _external=True),
                    "method": "POST",
                    "type": "application/geo+json",
                    "body": service.stac_body(saved),
                },
            ],
        }
    )


def _criteria(body: SavedSearchIn | SavedSearchPatch, saved: SavedSearch | None) -> Any:
    given = body.model_fields_set

    def pick(name: str, old: Any) -> Any:
        return getattr(body, name) if name in given or saved is None else old

    def number(name: str, old: Decimal | None) -> Decimal | None:
        value = pick(name, old)
        return None if value is None else Decimal(value)

    if body.area is not None:
        area = aoi_of(body.area, "area")
    elif saved is not None:
        area = service.area_of(saved)
    else:  # the create body requires it: this is for a type checker's peace
        raise ServiceError(_("Required."), fields={"area": _("Required.")})
    frequency = pick("frequency", saved.frequency if saved else Frequency.DAILY)
    return service.Criteria(
        name=pick("name", saved.name if saved else ""),
        area=area,
        date_from=pick("start", saved.date_from if saved else None),
        date_to=pick("end", saved.date_to if saved else None),
        collections=list(pick("collections", saved.collections if saved else []) or []),
        max_cloud=number("max_cloud_cover", saved.max_cloud if saved else None),
        max_incidence=number("max_incidence_angle", saved.max_incidence if saved else None),
        spectral_modes=list(pick("spectral_modes", saved.spectral_modes if saved else []) or []),
        stereo_only=bool(pick("stereo_only", saved.stereo_only if saved else False)),
        frequency=frequency or Frequency.DAILY,
        channel=pick("channel", saved.channel if saved else "email") or "email",
        webhook_id=pick("webhook_id", saved.webhook_id if saved else None),
    )


SAVED = Answer("The saved search", SavedSearchOut)


def _links() -> list[Link]:
    saved_id = {"saved_id": "$response.body#/id"}
    return [
        Link("get", "getSavedSearch", saved_id),
        Link("update", "updateSavedSearch", saved_id),
        Link("delete", "deleteSavedSearch", saved_id),
    ]


def _guard(saved_id: int) -> None:
    service.get(api_account(), saved_id)


# Every operation here is on the caller's own saved searches, and names the fields of
# the service's refusals as the API names them.
search_owner_operation = partial(operation, access=can_save_searches, field_names=FIELD_NAMES)


@search_owner_operation(
    "POST /saved-searches",
    "createSavedSearch",
    answers={201: Answer("Saved", SavedSearchOut)},
    body=SavedSearchIn,
    links={201: _links()},
)
def create_saved_search(body: SavedSearchIn) -> SavedSearchOut:
    """Save a search: be told of the new scenes that match it"""
    return saved_json(service.save(api_account(), _criteria(body, None)))


@search_owner_operation(
    "GET /saved-searches",
    "listSavedSearches",
    answers={200: Answer("Saved searches", SavedSearchesOut)},
)
def list_saved_searches() -> SavedSearchesOut:
    """My saved searches"""
    return SavedSearchesOut(
        saved_searches=[saved_json(s) for s in service.searches_of(api_account())]
    )


@search_owner_operation(
    "GET /saved-searches/<int:saved_id>", "getSavedSearch", answers={200: SAVED}, guard=_guard
)
def get_saved_search(saved_id: int) -> SavedSearchOut:
    """One saved search, with the STAC search that reproduces it"""
    return saved_json(service.get(api_account(), saved_id))


@search_owner_operation(
    "PATCH /saved-searches/<int:saved_id>",
    "updateSavedSearch",
    answers={200: SAVED},
    body=SavedSearchPatch,
    guard=_guard,
)
def update_saved_search(saved_id: int, body: SavedSearchPatch) -> SavedSearchOut:
    """Change a saved search (only the fields given); active: false pauses it"""
    user = api_account()
    saved = service.get(user, saved_id)
    if body.model_fields_set - {"active"}:
        service.change(user, saved, _criteria(body, saved))
    if body.active is not None:
        service.set_active(user, saved, body.active)
    return saved_json(saved)


@search_owner_operation(
    "DELETE /saved-searches/<int:saved_id>",
    "deleteSavedSearch",
    answers={204: Answer("Deleted")},
    guard=_guard,
)
def delete_saved_search(saved_id: int) -> Response:
    """Delete a saved search (its alerts stop)"""
    user = api_account()
    service.remove(user, service.get(user, saved_id))
    return Response(status=204)
