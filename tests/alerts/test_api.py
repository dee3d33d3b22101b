"""/api/v1/saved-searches: create, list, read, change, delete; its STAC search reproduces it."""

from __future__ import annotations

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import func, select

from dinamis.accounts import service as accounts
from dinamis.alerts.models import SavedSearch
from dinamis.core.transaction import commit
from dinamis.extensions import db
from tests.alerts.conftest import add_scenes, item


@pytest.fixture
def bearer(app, cast):
    with app.app_context():
        headers = {}
        for name in ("user_a", "user_b"):
            user = accounts.get_user_by_email(getattr(cast, name))
            _token, clear = accounts.create_api_token(user, "t")
            headers[name] = {"Authorization": f"Bearer {clear}"}
        commit()
        return headers


AREA = mapping(box(2.0, 45.0, 2.5, 45.5))


def count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SavedSearch))


def test_the_life_of_a_saved_search(app, client, bearer, collections):
    me, other = bearer["user_a"], bearer["user_b"]
    created = client.post(
        "/api/v1/saved-searches",
        json={
            "name": "Littoral",
            "area": AREA,
            "start": "2024-01-01",
            "collections": ["members-col"],
            "max_cloud_cover": 20,
            "frequency": "at_once",
        },
        headers=me,
    )
    assert created.status_code == 201, created.get_json()
    saved = created.get_json()
    assert saved["start"] == "2024-01-01" and saved["end"] is None
    assert saved["max_cloud_cover"] == "20" and saved["active"] is True
    search = next(link for link in saved["links"] if link["rel"] == "search")
    assert search["method"] == "POST" and search["href"].endswith("/stac/search")
    with app.app_context():
        add_scenes(item("A1", cloud=10), item("A2", cloud=50), item("A3", "open-col", cloud=5))
        commit()
    found = client.post("/stac/search", json=search["body"])
    assert found.status_code == 200, found.get_json()
    assert [f["id"] for f in found.get_json()["features"]] == ["A1"]

    path = f"/api/v1/saved-searches/{saved['id']}"
    assert client.get(path, headers=other).status_code == 403
    assert client.get(path, headers=me).get_json()["name"] == "Littoral"
    listed = client.get("/api/v1/saved-searches", headers=me).get_json()
    assert [s["id"] for s in listed["saved_searches"]] == [saved["id"]]
    assert client.get("/api/v1/saved-searches", headers=other).get_json() == {"saved_searches": []}
    changed = client.patch(path, json={"name": "Côte", "active": False}, headers=me)
    assert changed.status_code == 200
    assert (changed.get_json()["name"], changed.get_json()["active"]) == ("Côte", False)
    assert changed.get_json()["collections"] == ["members-col"]  # kept
    assert client.delete(path, headers=other).status_code == 403
    assert client.delete(path, headers=me).status_code == 204
    assert client.get(path, headers=me).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "area": AREA}, "name"),
        ({"name": "x", "area": {"type": "Point", "coordinates": [1, 2]}}, "area"),
        ({"name": "x", "area": AREA, "max_cloud_cover": 101}, "max_cloud_cover"),
        ({"name": "x", "area": AREA, "max_cloud_cover": True}, "max_cloud_cover"),
        ({"name": "x", "area": AREA, "frequency": "hourly"}, "frequency"),
        ({"name": "x", "area": AREA, "channel": "pigeon"}, "channel"),
        ({"name": "x", "area": AREA, "collections": ["nope"]}, "collections"),
        ({"name": "x", "area": AREA, "start": "2026-05-02", "end": "2026-05-01"}, "end"),
        ({"name": "x\x00", "area": AREA}, None),  # refused at the boundary (400)
        ({"name": "x", "area": AREA, "colour": "red"}, "colour"),
    ],
)
def test_refusals_name_their_field_and_write_nothing(app, client, bearer, collections, body, field):
    before = count(app)
    answer = client.post("/api/v1/saved-searches", json=body, headers=bearer["user_a"])
    assert answer.status_code == (400 if field is None else 422), answer.get_json()
    assert field is None or field in answer.get_json()["error"]["fields"], answer.get_json()
    assert count(app) == before
