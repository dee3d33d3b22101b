"""An item comes out of the STAC API as it went in: its extensions and properties kept,
its quicklook found by role; a collection without an access rule gets a stated one."""

from __future__ import annotations

import json

from dinamis.catalogue.ingest import ingest
from dinamis.catalogue.models import Access, Collection, Scene
from dinamis.catalogue.service import files_of, quicklook_path
from dinamis.catalogue.stac_extensions import EXTENSIONS, given_back, stored
from dinamis.core.transaction import commit
from dinamis.extensions import db
from tests.catalogue.test_ingest import COLLECTION, item

FILE = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
EO_OLD = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
SAT = "https://stac-extensions.github.io/sat/v1.0.0/schema.json"


def _ingest(app, tmp_path, records) -> object:
    path = tmp_path / "f.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in records))
    with app.app_context():
        report = ingest([path])
        commit()
        return report


def test_extensions_and_properties_come_out_as_they_went_in(app, client, tmp_path):
    given = item(1, stac_extensions=[FILE, EO_OLD, SAT])
    given["properties"].update({"sat:orbit_state": "descending", "sat:relative_orbit": 42})
    report = _ingest(app, tmp_path, [COLLECTION, given])
    assert report.errors == []
    body = client.get("/stac/collections/pleiades-archive/items/PHR_0001").get_json()
    extensions = body["stac_extensions"]
    assert extensions[:3] == [FILE, EO_OLD, SAT]  # kept, in their order
    assert not any("/eo/v2" in e for e in extensions)  # eo declared once, in the item's version
    assert any("/view/" in e for e in extensions)  # the API's own, for what it adds
    properties = body["properties"]
    assert properties["sat:orbit_state"] == "descending" and properties["sat:relative_orbit"] == 42
    assert properties["custom:thing"] == "kept" and properties["eo:cloud_cover"] == 12.5


def test_a_row_keeps_only_the_head_of_the_extensions_the_api_does_not_add_again(
    app, client, tmp_path
):
    eo, view, processing = EXTENSIONS
    lists = {
        1: [eo, view, processing],  # the API's own: stored as []
        2: [FILE, SAT, eo, view, processing],
        3: [eo, FILE, view, processing],
        4: [processing, view, eo],  # another order: kept whole
        5: [FILE, EO_OLD, view, processing],  # eo in another version: kept
        6: [view],
        7: [],
    }
    _ingest(
        app, tmp_path, [COLLECTION, *(item(n, stac_extensions=given) for n, given in lists.items())]
    )
    rows = {1: [], 2: [FILE, SAT], 3: [eo, FILE], 4: [processing, view], 5: [FILE, EO_OLD]}
    rows |= {6: [view], 7: []}
    with app.app_context():
        for number, given in lists.items():
            assert db.session.get(Scene, f"PHR_{number:04d}").stac_extensions == rows[number]
            assert stored(given) == rows[number]
            body = client.get(f"/stac/collections/pleiades-archive/items/PHR_{number:04d}")
            assert body.get_json()["stac_extensions"] == given_back(given)  # as before 0033


def test_the_api_extensions_are_pinned():
    # Rows store [] for an item that declared exactly these (migration 0033): a new
    # version here would change what those items give back. Migrate them first.
    assert EXTENSIONS == [
        "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
        "https://stac-extensions.github.io/view/v1.0.0/schema.json",
        "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    ]


def test_malformed_extensions_are_refused_with_the_item(app, tmp_path):
    report = _ingest(app, tmp_path, [COLLECTION, item(1, stac_extensions="eo"), item(2)])
    assert len(report.errors) == 1 and "stac_extensions" in report.errors[0]
    assert report.items == 1


def test_the_quicklook_is_the_thumbnail_or_overview_role_whatever_its_key(app, client, tmp_path):
    by_role = item(1)
    by_role["assets"] = {
        "preview": {"href": "quicklooks/p1.jpg", "type": "image/jpeg", "roles": ["overview"]},
        "data": {"href": "files/d1.tif", "roles": ["data"]},
    }
    thumbnail_first = item(2)
    thumbnail_first["assets"] = {
        "big": {"href": "quicklooks/o2.png", "roles": ["overview"]},
        "small": {"href": "quicklooks/t2.png", "roles": ["thumbnail"]},
    }
    _ingest(app, tmp_path, [COLLECTION, by_role, thumbnail_first])
    with app.app_context():
        first = db.session.get(Scene, "PHR_0001")
        second = db.session.get(Scene, "PHR_0002")
        assert (first.quicklook, second.quicklook) == ("preview", "small")  # keys, not hrefs
        assert quicklook_path("PHR_0001") == "quicklooks/p1.jpg"
        assert quicklook_path("PHR_0002") == "quicklooks/t2.png"
        assert [f.key for f in files_of(first)] == ["data"]  # not the quicklook
    body = client.get("/stac/collections/pleiades-archive/items/PHR_0001").get_json()
    preview = body["assets"]["preview"]
    assert preview["href"].endswith("/catalogue/scenes/PHR_0001/quicklook")
    assert preview["roles"] == ["overview"] and preview["type"] == "image/jpeg"
    assert "thumbnail" not in body["assets"]


def test_a_collection_without_an_access_rule_gets_a_stated_default(app, tmp_path):
    bare = {k: v for k, v in COLLECTION.items() if k != "dinamis"}
    report = _ingest(app, tmp_path, [bare])
    assert report.errors == []
    assert len(report.notes) == 1 and "default applies: members" in report.notes[0]
    with app.app_context():
        assert db.session.get(Collection, "pleiades-archive").access == Access.MEMBERS
    # An existing collection updated without a rule keeps its own, and ingest says so.
    _ingest(app, tmp_path, [{**COLLECTION, "dinamis": {"access": "profiles", "profiles": ["x"]}}])
    report = _ingest(app, tmp_path, [{**bare, "title": "Renamed"}])
    assert "keeps its own: profiles" in report.notes[0]
    with app.app_context():
        found = db.session.get(Collection, "pleiades-archive")
        assert (found.access, found.profiles, found.title) == ("profiles", ["x"], "Renamed")
