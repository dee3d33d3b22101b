"""Downloads: rights by collection, licences, Range, the log, signed links, the basket."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dinamis.accounts import service as accounts
from dinamis.catalogue.ingest import Report, load
from dinamis.catalogue.models import Collection, Download, LicenceAcceptance
from dinamis.catalogue.service import Visit, read_link
from dinamis.catalogue.storage import LocalStorage, StorageError, clean_key, storage
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from tests.conftest import login
from tests.helpers import csrf_token

DATA = bytes(range(256)) * 4  # 1,024 bytes
SQUARE = {"type": "Polygon", "coordinates": [[[2, 45], [2.2, 45], [2.2, 45.2], [2, 45.2], [2, 45]]]}


def collection(cid: str, access: str, **extra) -> dict:
    return {
        "type": "Collection",
        "id": cid,
        "title": cid,
        "license": f"lic-{cid}",
        "dinamis": {"access": access, "sensor_family": "pleiades", **extra},
    }


def scene(sid: str, cid: str, href: str | None = None) -> dict:
    href = href or f"scenes/{sid}/{sid}.tif"
    return {
        "type": "Feature",
        "id": sid,
        "collection": cid,
        "geometry": SQUARE,
        "properties": {"datetime": "2024-05-01T10:30:00Z"},
        "assets": {
            "thumbnail": {"href": f"quicklooks/{sid}.png", "type": "image/png"},
            "data": {
                "href": href,
                "type": "image/tiff",
                "roles": ["data"],
                "file:size": len(DATA),
                "file:checksum": "1220" + hashlib.sha256(DATA).hexdigest(),
            },
        },
    }


@pytest.fixture
def library(app):
    """An open, a members and a research-only collection, one scene each, files in the store."""
    with app.app_context():
        report = Report()
        load(
            [
                ("t", collection("open-data", "open")),
                ("t", collection("members-only", "members")),
                ("t", collection("research-only", "profiles", profiles=["research-fr"])),
                ("t", scene("OPEN_1", "open-data")),
                ("t", scene("MEMB_1", "members-only")),
                ("t", scene("RES_1", "research-only")),
                ("t", scene("EVIL_1", "open-data", href="../../../etc/passwd")),
            ],
            report,
        )
        assert report.errors == []
        for sid in ("OPEN_1", "MEMB_1", "RES_1"):
            storage().put(f"scenes/{sid}/{sid}.tif", DATA)
            storage().put(f"quicklooks/{sid}.png", b"\x89PNG fake")
        commit()


def accept(client, cid: str) -> None:
    token = csrf_token(client, "/support/new")
    response = client.post(f"/catalogue/licences/{cid}", data={"csrf_token": token, "next": "/"})
    assert response.status_code == 302, response.get_data(as_text=True)


def logged(app) -> list[Download]:
    with app.app_context():
        rows = list(db.session.scalars(select(Download).order_by(Download.id)))
        db.session.expunge_all()
        return rows


def test_storage_keys_cannot_leave_the_store(tmp_path):
    for bad in ("../x", "/etc/passwd", "a/../../b", "a\\b", "", "a//b", "http://x/y", "a/"):
        with pytest.raises(StorageError):
            clean_key(bad)
    store = LocalStorage(tmp_path / "root")
    store.put("a/b.bin", b"x")
    assert store.exists("a/b.bin") and store.stat("a/b.bin").size == 1
    (tmp_path / "secret").write_text("s")
    (tmp_path / "root" / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(StorageError):
        store.open("link")
    assert not store.exists("nope")


def test_open_data_for_anyone_after_the_licence(app, client, library):
    first = client.get("/catalogue/scenes/OPEN_1/files/data")
    assert first.status_code == 302 and "/catalogue/licences/open-data" in first.headers["Location"]
    licence = client.get(first.headers["Location"]).get_data(as_text=True)
    assert 'name="csrf_token"' in licence
    accept(client, "open-data")
    response = client.get("/catalogue/scenes/OPEN_1/files/data")
    assert response.status_code == 200 and response.data == DATA
    assert "attachment" in response.headers["Content-Disposition"]
    [row] = logged(app)
    assert (row.user_id, row.scene_id, row.bytes, row.ranged, row.via) == (
        None,
        "OPEN_1",
        1024,
        False,
        "web",
    )


def test_members_collection(app, client, cast, library):
    anonymous = client.get("/catalogue/scenes/MEMB_1/files/data")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    login(client, cast.user_b)
    assert client.get("/catalogue/scenes/MEMB_1/files/data").status_code == 302  # the licence
    accept(client, "members-only")
    accept(client, "members-only")  # twice: still one record
    response = client.get("/catalogue/scenes/MEMB_1/files/data")
    assert response.status_code == 200 and response.data == DATA
    with app.app_context():
        user = accounts.get_user_by_email(cast.user_b)
        assert (
            db.session.scalar(select(func.count()).where(LicenceAcceptance.user_id == user.id)) == 1
        )
        [row] = logged(app)
        assert (row.user_id, row.entity_id, row.bytes) == (user.id, cast.entity_b, 1024)
        # A new version of the licence must be accepted again.
        db.session.get(Collection, "members-only").licence_version = "2"
        commit()
    assert client.get("/catalogue/scenes/MEMB_1/files/data").status_code == 302


def test_profiles_collection_and_refusals(app, client, cast, library):
    login(client, cast.user_b)  # public-fr: not a research profile
    accept_page = client.get("/catalogue/licences/research-only").get_data(as_text=True)
    assert 'id="accept-licence"' not in accept_page  # nothing to accept: not allowed
    refused = client.get("/catalogue/scenes/RES_1/files/data")
    assert refused.status_code == 403
    token = csrf_token(client, "/support/new")
    assert (
        client.post("/catalogue/licences/research-only", data={"csrf_token": token}).status_code
        == 403
    )
    other = app.test_client()
    login(other, cast.user_a)  # research-fr
    accept(other, "research-only")
    assert other.get("/catalogue/scenes/RES_1/files/data").data == DATA
    staff = app.test_client()
    login(staff, cast.staff)
    accept(staff, "research-only")
    assert staff.get("/catalogue/scenes/RES_1/files/data").status_code == 200
    with app.app_context():  # a suspended entity's members lose the files
        db.session.get(Entity, cast.entity_a).status = "suspended"
        commit()
    assert other.get("/catalogue/scenes/RES_1/files/data").status_code == 403
    assert len(logged(app)) == 2


def test_range_requests(app, client, library):
    accept(client, "open-data")
    part = client.get("/catalogue/scenes/OPEN_1/files/data", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == DATA[10:20]
    assert part.headers["Content-Range"] == "bytes 10-19/1024"
    tail = client.get("/catalogue/scenes/OPEN_1/files/data", headers={"Range": "bytes=-4"})
    assert tail.status_code == 206 and tail.data == DATA[-4:]
    beyond = client.get("/catalogue/scenes/OPEN_1/files/data", headers={"Range": "bytes=5000-"})
    assert beyond.status_code == 416
    rows = logged(app)
    assert [(r.bytes, r.ranged) for r in rows] == [(10, True), (4, True)]


def test_unknown_and_escaping_files_are_404(client, library):
    assert client.get("/catalogue/scenes/NOPE/files/data").status_code == 404
    assert client.get("/catalogue/scenes/OPEN_1/files/nope").status_code == 404
    assert client.get("/catalogue/scenes/EVIL_1/files/data").status_code == 404


def test_bearer_token_downloads(app, client, cast, library):
    with app.app_context():
        user = accounts.get_user_by_email(cast.user_a)
        _token, clear = accounts.create_api_token(user, "dl")
        commit()
    headers = {"Authorization": f"Bearer {clear}"}
    first = client.get("/catalogue/scenes/MEMB_1/files/data", headers=headers)
    assert first.status_code == 403 and first.get_json()["error"]["code"] == "licence_required"
    browser = app.test_client()
    login(browser, cast.user_a)
    accept(browser, "members-only")
    assert client.get("/catalogue/scenes/MEMB_1/files/data", headers=headers).data == DATA
    bad = client.get("/catalogue/scenes/MEMB_1/files/data", headers={"Authorization": "Bearer x"})
    assert bad.status_code == 401


def test_stac_asset_links_follow_the_rights(app, client, cast, library):
    def assets(headers=None):
        body = client.get("/stac/search?limit=100", headers=headers or {}).get_json()
        return {f["id"]: f["assets"] for f in body["features"]}

    anonymous = assets()
    assert anonymous["OPEN_1"]["data"]["href"].endswith("/catalogue/scenes/OPEN_1/files/data")
    assert "data" not in anonymous["MEMB_1"] and "data" not in anonymous["RES_1"]
    assert anonymous["MEMB_1"]["thumbnail"]["href"].endswith("/scenes/MEMB_1/quicklook")
    with app.app_context():
        _t, clear_b = accounts.create_api_token(accounts.get_user_by_email(cast.user_b), "b")
        _t, clear_a = accounts.create_api_token(accounts.get_user_by_email(cast.user_a), "a")
        commit()
    public_actor = assets({"Authorization": f"Bearer {clear_b}"})
    assert "data" in public_actor["MEMB_1"] and "data" not in public_actor["RES_1"]
    researcher = assets({"Authorization": f"Bearer {clear_a}"})
    assert researcher["RES_1"]["data"]["file:size"] == 1024


def test_quicklooks_are_public(client, library):
    response = client.get("/catalogue/scenes/RES_1/quicklook")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert client.get("/catalogue/scenes/NOPE/quicklook").status_code == 404


def test_basket_links_and_script(app, client, cast, library, monkeypatch):
    login(client, cast.user_a)
    token = csrf_token(client, "/support/new")
    for sid in ("OPEN_1", "MEMB_1", "RES_1"):
        client.post("/catalogue/basket/add", data={"csrf_token": token, "scene_id": sid})
    assert (
        client.post(
            "/catalogue/basket/add", data={"csrf_token": token, "scene_id": "NOPE"}
        ).status_code
        == 404
    )
    page = client.get("/catalogue/basket").get_data(as_text=True)
    assert page.count("/catalogue/licences/") == 3  # nothing accepted yet
    assert client.get("/catalogue/basket/links.txt").status_code == 422
    accept(client, "open-data")
    accept(client, "members-only")
    links = client.get("/catalogue/basket/links.txt").get_data(as_text=True).split()
    assert len(links) == 2 and all("/catalogue/dl/" in link for link in links)
    by_scene = {_scene_of(app, link): link.split("localhost", 1)[1] for link in links}
    assert set(by_scene) == {"OPEN_1", "MEMB_1"}
    path = by_scene["OPEN_1"]
    stranger = app.test_client()  # the link works without the session
    assert stranger.get(path).data == DATA
    assert logged(app)[-1].via == "link" and logged(app)[-1].user_id is not None
    script = client.get("/catalogue/basket/download.sh").get_data(as_text=True)
    assert script.startswith("#!/bin/sh") and "curl" in script
    assert hashlib.sha256(DATA).hexdigest() in script
    assert stranger.get(path[:-3] + "xyz").status_code == 404  # forged
    real = time.time
    ttl = app.config["DINAMIS_SETTINGS"].download_link_ttl
    monkeypatch.setattr(time, "time", lambda: real() + ttl + 60)
    assert stranger.get(path).status_code == 410  # expired
    monkeypatch.undo()
    with app.app_context():  # the owner's rights are checked again when the link is used
        db.session.get(Entity, cast.entity_a).status = "suspended"
        commit()
    assert stranger.get(path).status_code == 200  # open data stays open
    assert stranger.get(by_scene["MEMB_1"]).status_code == 403
    client.post("/catalogue/basket/clear", data={"csrf_token": token})
    assert "/catalogue/licences/" not in client.get("/catalogue/basket").get_data(as_text=True)


def _scene_of(app, link: str) -> str:
    with app.test_request_context():
        file, _user = read_link(link.rsplit("/", 1)[1], Visit())
        return file.scene.id


def test_scene_page_offers_the_right_action(client, cast, library):
    page = client.get("/catalogue/scenes/OPEN_1").get_data(as_text=True)
    assert (
        "/catalogue/licences/open-data" in page
        and 'src="/catalogue/scenes/OPEN_1/quicklook"' in page
    )
    members = client.get("/catalogue/scenes/MEMB_1").get_data(as_text=True)
    assert "/catalogue/scenes/MEMB_1/files/data" not in members
    login(client, cast.user_a)
    accept(client, "members-only")
    members = client.get("/catalogue/scenes/MEMB_1").get_data(as_text=True)
    assert "/catalogue/scenes/MEMB_1/files/data" in members


def test_seed_files_match_their_checksums(app, tmp_path: Path):
    from seed.catalogue import scenes, with_files

    with app.app_context():
        item = with_files(scenes(3)[0])
        data = item["assets"]["data"]
        stored = storage().open(data["href"]).read()
        assert data["file:checksum"] == "1220" + hashlib.sha256(stored).hexdigest()
        assert storage().exists(item["assets"]["thumbnail"]["href"])
