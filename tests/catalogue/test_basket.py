"""The basket: a member's is kept with the account; scenes go in from the result list."""

from __future__ import annotations

import dataclasses
import re

from sqlalchemy import select

from dinamis.accounts import service as accounts
from dinamis.catalogue.models import BasketItem, Scene
from dinamis.core.transaction import commit
from dinamis.extensions import db
from tests.catalogue.test_downloads import library  # noqa: F401 - the fixture
from tests.conftest import login
from tests.helpers import csrf_token


def _basket(client) -> list[str]:
    page = client.get("/catalogue/basket").get_data(as_text=True)
    return re.findall(r'<td><a href="/catalogue/scenes/([^"]+)">', page)


def _stored(app, email: str) -> list[str]:
    with app.app_context():
        user = accounts.get_user_by_email(email)
        return list(
            db.session.scalars(
                select(BasketItem.scene_id)
                .where(BasketItem.user_id == user.id)
                .order_by(BasketItem.id)
            )
        )


def test_a_members_basket_follows_them_to_another_browser(app, cast, library):  # noqa: F811
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, cast.user_a)
    token = csrf_token(laptop, "/catalogue/basket")
    laptop.post("/catalogue/basket/add", data={"csrf_token": token, "scene_id": "OPEN_1"})
    laptop.post("/catalogue/basket/add", data={"csrf_token": token, "scene_id": "MEMB_1"})
    assert _stored(app, cast.user_a) == ["OPEN_1", "MEMB_1"]
    login(phone, cast.user_a)  # signing in elsewhere
    assert _basket(phone) == ["OPEN_1", "MEMB_1"]
    token = csrf_token(phone, "/catalogue/basket")
    phone.post("/catalogue/basket/remove", data={"csrf_token": token, "scene_id": "OPEN_1"})
    assert _basket(laptop) == ["MEMB_1"]
    # another member has their own
    other = app.test_client()
    login(other, cast.user_b)
    assert _basket(other) == []
    # signing out and in again keeps it (the visit's basket is the session's: empty)
    laptop.post("/logout", data={"csrf_token": csrf_token(laptop, "/catalogue/basket")})
    assert _basket(laptop) == []
    login(laptop, cast.user_a)
    assert _basket(laptop) == ["MEMB_1"]
    token = csrf_token(laptop, "/catalogue/basket")
    laptop.post("/catalogue/basket/clear", data={"csrf_token": token})
    assert _stored(app, cast.user_a) == []


def test_what_a_visitor_picked_joins_the_account_at_sign_in(app, client, cast, library):  # noqa: F811
    token = csrf_token(client, "/catalogue/basket")
    client.post("/catalogue/basket/add", data={"csrf_token": token, "scene_id": "OPEN_1"})
    assert _basket(client) == ["OPEN_1"]  # a visitor's basket: the session
    assert _stored(app, cast.user_a) == []
    login(client, cast.user_a)
    assert _stored(app, cast.user_a) == ["OPEN_1"]
    elsewhere = app.test_client()
    login(elsewhere, cast.user_a)
    assert _basket(elsewhere) == ["OPEN_1"]


def test_add_one_or_all_the_page_from_the_result_list(app, client, cast, library):  # noqa: F811
    login(client, cast.user_a)
    results = client.get("/catalogue/").get_data(as_text=True)
    shown = re.findall(r'<tr id="scene-\d+" data-scene="([^"]+)"', results)
    assert {"MEMB_1", "OPEN_1", "RES_1"} <= set(shown)
    assert results.count('name="page_scene"') == len(shown)  # the page's scenes, for "add all"
    token = csrf_token(client, "/catalogue/")
    one = client.post(
        "/catalogue/basket/add",
        data={"csrf_token": token, "scene_id": "RES_1", "page_scene": shown, "next": "/catalogue/"},
    )
    assert one.status_code == 302 and one.headers["Location"].endswith("/catalogue/")
    assert _stored(app, cast.user_a) == ["RES_1"]
    page = client.get("/catalogue/").get_data(as_text=True)
    row = re.search(r'<tr id="scene-\d+" data-scene="RES_1".*?</tr>', page, re.S)
    assert row and "Dans le panier" in row.group(0)  # user.a reads French
    client.post(
        "/catalogue/basket/add",
        data={"csrf_token": token, "all": "1", "page_scene": shown, "next": "/catalogue/"},
    )
    assert sorted(_stored(app, cast.user_a)) == sorted(shown)  # RES_1 once


def test_the_basket_limit_and_unknown_scenes(app, client, cast, library, monkeypatch):  # noqa: F811
    settings = app.config["DINAMIS_SETTINGS"]
    monkeypatch.setitem(
        app.config, "DINAMIS_SETTINGS", dataclasses.replace(settings, basket_max_scenes=2)
    )
    login(client, cast.user_a)
    token = csrf_token(client, "/catalogue/basket")
    unknown = client.post(
        "/catalogue/basket/add", data={"csrf_token": token, "all": "1", "page_scene": ["NOPE"]}
    )
    assert unknown.status_code == 404 and _stored(app, cast.user_a) == []
    too_many = client.post(
        "/catalogue/basket/add",
        data={"csrf_token": token, "all": "1", "page_scene": ["OPEN_1", "MEMB_1", "RES_1"]},
    )
    assert too_many.status_code == 422
    text = too_many.get_data(as_text=True)
    assert "au plus 2 scènes" in text and "la place pour 2 scène(s)" in text
    assert _stored(app, cast.user_a) == []
    client.post("/catalogue/basket/add", data={"csrf_token": token, "scene_id": "OPEN_1"})
    client.post("/catalogue/basket/add", data={"csrf_token": token, "scene_id": "MEMB_1"})
    full = client.post("/catalogue/basket/add", data={"csrf_token": token, "scene_id": "RES_1"})
    assert full.status_code == 422 and _stored(app, cast.user_a) == ["OPEN_1", "MEMB_1"]


def test_a_deleted_scene_leaves_the_baskets(app, client, cast, library):  # noqa: F811
    login(client, cast.user_a)
    token = csrf_token(client, "/catalogue/basket")
    client.post("/catalogue/basket/add", data={"csrf_token": token, "scene_id": "OPEN_1"})
    with app.app_context():
        db.session.delete(db.session.get(Scene, "OPEN_1"))
        commit()
    assert _stored(app, cast.user_a) == []
