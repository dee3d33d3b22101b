"""/api/v1/dsm-requests: create, read, list, cancel, the quote; refusals at the field."""

from __future__ import annotations

from decimal import Decimal

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import func, select

from dinamis.accounts import service as accounts
from dinamis.core.transaction import commit
from dinamis.dsm.models import DsmRequest
from dinamis.extensions import db
from dinamis.quota.models import LedgerTransaction
from tests.dsm.helpers import make_world

D = Decimal


@pytest.fixture
def api(app, cast):
    with app.app_context():
        world = make_world([cast.entity_a, cast.entity_b], allowance=D("100"))
        headers = {}
        for name in ("user_a", "referent_a", "user_b", "staff"):
            user = accounts.get_user_by_email(getattr(cast, name))
            _token, clear = accounts.create_api_token(user, "t")
            headers[name] = {"Authorization": f"Bearer {clear}"}
        commit()
        return world, headers


def body(scene_id="PHR_PAIR_1", **changes):
    base = {
        "scene_id": scene_id,
        "aoi": mapping(box(2.05, 45.02, 2.15, 45.1)),
        "project": {"title": "Dunes", "description": "Heights of the coastal dunes."},
    }
    base.update(changes)
    return base


def counts(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(DsmRequest)),
            db.session.scalar(select(func.count()).select_from(LedgerTransaction)),
        )


def test_create_read_list_and_cancel(app, client, api):
    _world, headers = api
    created = client.post("/api/v1/dsm-requests", json=body(), headers=headers["user_a"])
    assert created.status_code == 201, created.get_json()
    request = created.get_json()
    assert request["status"] == "queued" and request["family"] == "dsm"
    assert request["source_scene_ids"] == ["PHR_PAIR_1", "PHR_PAIR_2"]
    assert request["resolution_m"] == "1" and request["quote"] is None
    assert D(request["charged_km2"]) == D(request["area_km2"]) == D(request["free_km2"])
    assert request["progress"] == 0 and request["product"] is None and request["failure"] is None
    path = f"/api/v1/dsm-requests/{request['id']}"
    assert client.get(path, headers=headers["referent_a"]).get_json()["id"] == request["id"]
    assert client.get(path, headers=headers["user_b"]).status_code == 403
    listed = client.get("/api/v1/dsm-requests", headers=headers["user_a"]).get_json()
    assert [r["id"] for r in listed["dsm_requests"]] == [request["id"]]
    assert client.get("/api/v1/dsm-requests", headers=headers["user_b"]).get_json() == {
        "dsm_requests": []
    }
    assert (
        client.get("/api/v1/dsm-requests?status=nope", headers=headers["user_a"]).status_code == 400
    )
    cancelled = client.post(f"{path}/cancel", json={"reason": "wrong"}, headers=headers["user_a"])
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    again = client.post(f"{path}/cancel", headers=headers["user_a"])
    assert again.status_code == 409


def test_the_whole_overlap_by_default_and_a_repeated_key_replays(app, client, api):
    _world, headers = api
    key = {"Idempotency-Key": "dsm-1", **headers["user_a"]}
    whole = body("PHR_TRI_2", aoi=None, resolution_m="2")
    first = client.post("/api/v1/dsm-requests", json=whole, headers=key)
    assert first.status_code == 201, first.get_json()
    before = counts(app)
    second = client.post("/api/v1/dsm-requests", json=whole, headers=key)
    assert second.status_code == 201 and second.headers.get("Idempotent-Replayed") == "true"
    assert second.get_json()["id"] == first.get_json()["id"] and counts(app) == before
    assert first.get_json()["resolution_m"] == "2"
    # beyond the 100 km² left: a quote for the Referent, who accepts it
    other = client.post("/api/v1/dsm-requests", json=whole, headers=headers["user_a"]).get_json()
    assert other["status"] == "awaiting_quote" and other["quote"]["eur_per_km2"] == "0.90"
    path = f"/api/v1/dsm-requests/{other['id']}/quote/accept"
    assert client.post(path, headers=headers["user_a"]).status_code == 403
    accepted = client.post(path, headers=headers["referent_a"])
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "queued"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"aoi": mapping(box(2.1, 45.05, 2.3, 45.1))}, "aoi"),
        ({"aoi": mapping(box(2.05, 45.05, 2.06, 45.06))}, "aoi"),
        ({"scene_id": "PHR_MONO"}, "scene_id"),
        ({"scene_id": "NEO_PAIR_1"}, "scene_id"),
        ({"scene_id": "NOPE"}, "scene_id"),
        ({"resolution_m": "3"}, "resolution_m"),
        ({"resolution_m": "1e9"}, "resolution_m"),
        ({"resolution_m": 1}, "resolution_m"),
        ({"project": {"title": "", "description": "x"}}, "project.title"),
        ({"aoi": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}}, "aoi"),
        ({"extra": True}, "extra"),
    ],
)
def test_refusals_name_the_field_and_write_nothing(app, client, api, changes, field):
    _world, headers = api
    before = counts(app)
    answer = client.post(
        "/api/v1/dsm-requests",
        json=body(**changes),
        headers={**headers["user_a"], "Accept-Language": "en"},
    )
    assert answer.status_code == 422, answer.get_json()
    fields = answer.get_json()["error"]["fields"]
    assert any(name == field or name.startswith(f"{field}.") for name in fields), fields
    assert counts(app) == before


def test_staff_cannot_ask_and_visitors_are_refused(app, client, api):
    _world, headers = api
    assert (
        client.post("/api/v1/dsm-requests", json=body(), headers=headers["staff"]).status_code
        == 403
    )
    assert client.post("/api/v1/dsm-requests", json=body()).status_code == 401
