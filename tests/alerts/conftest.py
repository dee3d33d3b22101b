"""Saved searches' fixtures: collections of each access rule, scenes through the ingest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from shapely.geometry import box, mapping

from dinamis.accounts import service as accounts
from dinamis.alerts import service
from dinamis.catalogue.ingest import Report, load
from dinamis.core.transaction import commit
from tests.factories import make_collection

AREA = box(2.0, 45.0, 2.5, 45.5)  # the saved searches' area
INSIDE = box(2.1, 45.1, 2.2, 45.2)  # a footprint meeting it
ELSEWHERE = box(10.0, 50.0, 10.1, 50.1)


def add_scenes(*items: dict[str, Any]) -> None:
    """Scenes through the ingest (one statement: one batch for the trigger)."""
    report = Report()
    load([("test", item) for item in items], report)
    assert report.errors == [], report.errors


def item(
    sid: str,
    collection: str = "members-col",
    *,
    footprint: Any = INSIDE,
    when: dt.datetime | None = None,
    cloud: float | None = 10,
    **properties: Any,
) -> dict[str, Any]:
    moment = when or dt.datetime.now(dt.UTC).replace(microsecond=0)
    props: dict[str, Any] = {"datetime": moment.isoformat().replace("+00:00", "Z"), **properties}
    if cloud is not None:
        props["eo:cloud_cover"] = cloud
    return {
        "type": "Feature",
        "id": sid,
        "collection": collection,
        "geometry": mapping(footprint),
        "properties": props,
        "assets": {"thumbnail": {"href": f"quicklooks/{sid}.png", "type": "image/png"}},
    }


@pytest.fixture
def collections(app):
    with app.app_context():
        make_collection("open-col", access="open")
        make_collection("members-col", access="members")
        make_collection("research-col", access="profiles", profiles=["research-fr"])
        commit()


def save_for(email: str, **given: Any):
    user = accounts.get_user_by_email(email)
    assert user is not None
    criteria = service.Criteria(name=given.pop("name", "Zone"), area=given.pop("area", AREA))
    for key, value in given.items():
        setattr(criteria, key, value)
    return service.save(user, criteria)
