"""The STAC API: landing, collections, items, search with filters and keyset pages."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from dinamis.catalogue import search
from dinamis.catalogue.ingest import ingest
from dinamis.core.transaction import commit
from tests.catalogue.test_ingest import COLLECTION, item


@pytest.fixture
def scenes(app, tmp_path):
    lines = [json.dumps(COLLECTION)]
    for n in range(1, 26):
        scene = item(n)
        scene["properties"]["eo:cloud_cover"] = n * 3
        if n > 20:  # far away, in Brittany
            scene["geometry"] = {
                "type": "Polygon",
                "coordinates": [[[-4, 48], [-3.8, 48], [-3.8, 48.2], [-4, 48.2], [-4, 48]]],
            }
        lines.append(json.dumps(scene))
    path = tmp_path / "s.ndjson"
    path.write_text("\n".join(lines))
    with app.app_context():
        assert ingest([path]).errors == []
        commit()


def test_landing_conformance_collections(client, scenes):
    landing = client.get("/stac").get_json()
    assert (
        landing["type"] == "Catalog"
        and "https://api.stacspec.org/v1.0.0/item-search" in landing["conformsTo"]
    )
    assert any(link["rel"] == "child" for link in landing["links"])
    assert client.get("/stac/collections").get_json()["collections"][0]["id"] == "pleiades-archive"
    assert client.get("/stac/collections/nope").status_code == 404


def test_item_and_media_type(client, scenes):
    response = client.get("/stac/collections/pleiades-archive/items/PHR_0001")
    assert response.mimetype == "application/geo+json"
    body = response.get_json()
    assert (
        body["properties"]["eo:cloud_cover"] == 3.0 and body["properties"]["custom:thing"] == "kept"
    )
    assert client.get("/stac/collections/pleiades-archive/items/NOPE").status_code == 404


def test_search_filters(client, scenes):
    near = client.get("/stac/search?bbox=1.9,44.9,2.3,45.3&limit=100").get_json()
    assert near["numberMatched"] == 20
    brittany = client.post(
        "/stac/search",
        json={
            "intersects": {
                "type": "Polygon",
                "coordinates": [
                    [[-4.1, 47.9], [-3.7, 47.9], [-3.7, 48.3], [-4.1, 48.3], [-4.1, 47.9]]
                ],
            }
        },
    )
    assert brittany.get_json()["numberMatched"] == 5
    dated = client.get("/stac/search?datetime=2024-05-02T00:00:00Z/2024-05-03T23:59:59Z").get_json()
    assert {f["id"] for f in dated["features"]} == {"PHR_0001", "PHR_0002"}
    open_end = client.get("/stac/search?datetime=../2024-05-02T23:59:59Z").get_json()
    assert {f["id"] for f in open_end["features"]} == {"PHR_0001"}
    ids = client.get("/stac/search?ids=PHR_0003,PHR_0004").get_json()
    assert ids["numberMatched"] == 2


def local(href: str) -> str:
    """A link's path and query, for the test client."""
    parts = urlsplit(href)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def test_pagination_is_stable(client, scenes):
    seen, url = [], "/stac/search?limit=7"
    while url:
        page = client.get(url).get_json()
        seen += [f["id"] for f in page["features"]]
        nxt = [link for link in page["links"] if link["rel"] == "next"]
        url = local(nxt[0]["href"]) if nxt else None
    assert len(seen) == 25 and len(set(seen)) == 25
    body = {"limit": 10}
    first = client.post("/stac/search", json=body).get_json()
    assert "numberMatched" not in first  # not counted when the matches span pages
    nxt = next(link for link in first["links"] if link["rel"] == "next")
    second = client.post("/stac/search", json=nxt["body"]).get_json()
    assert not {f["id"] for f in first["features"]} & {f["id"] for f in second["features"]}


@pytest.mark.parametrize("probe_rows", [3, 5000])
@pytest.mark.parametrize("sortby", [None, "eo:cloud_cover", "-eo:cloud_cover"])
def test_area_search_pages_whether_the_index_walk_holds_them_or_not(
    client, scenes, monkeypatch, probe_rows, sortby
):
    monkeypatch.setattr(search, "PROBE_ROWS", probe_rows)
    monkeypatch.setattr(search, "MAX_WALK_ROWS", probe_rows)
    monkeypatch.setattr(search, "choose", lambda query, guess: search.WALK)
    body: dict = {"bbox": [-5, 44, 3, 49], "limit": 4}
    if sortby:
        body["sortby"] = sortby
    whole = client.post("/stac/search", json={**body, "limit": 100}).get_json()
    seen = []
    while body:
        page = client.post("/stac/search", json=body).get_json()
        seen += [f["id"] for f in page["features"]]
        body = next((link["body"] for link in page["links"] if link["rel"] == "next"), None)
    assert seen == [f["id"] for f in whole["features"]] and len(seen) == 25


@pytest.mark.parametrize(
    "query",
    [
        "bbox=1,2,3",
        "bbox=10,50,5,40",
        "bbox=nan,1,2,3",
        "bbox=1,2,3,inf",
        "datetime=yesterday",
        "datetime=2024-06-01T00:00:00Z/2024-05-01T00:00:00Z",
        "limit=0",
        "limit=abc",
        "token=garbage",
    ],
)
def test_bad_searches_are_clear_400s(client, scenes, query):
    response = client.get(f"/stac/search?{query}")
    assert response.status_code == 400
    assert response.get_json()["description"]


def test_malformed_post_body(client, scenes):
    response = client.post("/stac/search", data="{nope", content_type="application/json")
    assert response.status_code == 400
    bowtie = {"type": "Polygon", "coordinates": [[[2, 45], [3, 46], [3, 45], [2, 46], [2, 45]]]}
    refused = client.post("/stac/search", json={"intersects": bowtie})
    assert refused.status_code == 400 and "intersects" in refused.get_json()["description"]
    for corner in ([10**400, 45], [2, float("inf")]):
        ring = [corner, [3, 45], [3, 46], corner]
        shape = {"type": "Polygon", "coordinates": [ring]}
        refused = client.post("/stac/search", json={"intersects": shape})
        assert refused.status_code == 400, refused.data
    short = client.get("/stac/search?bbox=1,2,3", headers={"Accept-Language": "en"})
    assert "or six" in short.get_json()["description"]


def test_footprint_geojson_read_from_ewkb_is_shapelys():
    import shapely
    from shapely.geometry import MultiPolygon, Polygon, box, mapping

    from dinamis.core.geo import geojson_and_bbox

    shell = [(2.1, 45.3), (2.9, 45.1), (3.0, 46.0), (2.05, 46.2), (2.1, 45.3)]
    hole = [(2.4, 45.5), (2.6, 45.5), (2.6, 45.7), (2.4, 45.5)]
    geometries = [
        MultiPolygon([Polygon(shell)]),
        MultiPolygon([Polygon(shell, [hole]), box(-180, -17, -179.5, -16)]),
        MultiPolygon([box(179.5, -17, 180, -16), box(-180, -17, -179.5, -16)]),
        Polygon(shell),  # not a footprint's type: read by Shapely
    ]
    for geometry in geometries:
        expected = (dict(mapping(geometry)), list(geometry.bounds))
        for data in (
            shapely.to_wkb(shapely.set_srid(geometry, 4326), include_srid=True),
            shapely.to_wkb(geometry, byte_order=0),  # big-endian, no SRID
        ):
            assert geojson_and_bbox(data) == expected


def test_a_page_is_one_statement_outside_a_transaction(app, client, engine):
    """A STAC page is read in autocommit, by one statement carrying the collections' access
    rules: no BEGIN, no COMMIT, no second query (four round trips a page before)."""
    from psycopg import pq
    from sqlalchemy import event
    from sqlalchemy.orm import sessionmaker

    from dinamis.extensions import db

    # The app as served: sessions on the engine, not on the test's own transaction (this
    # test writes nothing, so it sees only what is committed: the page may be empty).
    db.bind(sessionmaker(bind=engine, expire_on_commit=False), app)
    seen: list[tuple[str, pq.TransactionStatus]] = []

    def after(conn, cursor, statement, parameters, context, executemany):
        status = conn.connection.dbapi_connection.info.transaction_status
        seen.append((statement, status))

    event.listen(engine, "after_cursor_execute", after)
    try:
        for url in (
            "/stac/search?limit=3",
            "/stac/search?limit=3&datetime=2020-01-01T00:00:00Z/..",
        ):
            seen.clear()
            assert client.get(url).status_code == 200
            assert len(seen) == 1, [s for s, _ in seen]
            statement, status = seen[0]
            assert "collection_access" in statement and "collection_profiles" in statement
            assert status == pq.TransactionStatus.IDLE  # not INTRANS: no transaction open
    finally:
        event.remove(engine, "after_cursor_execute", after)


def test_stac_extensions_given_back_once_per_list_and_never_shared():
    """given_back is cached per distinct list: the same answers, a fresh list each call
    (a caller may change it), a member that is not a string dropped."""
    from dinamis.catalogue.stac_extensions import EXTENSIONS, given_back

    file = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
    eo1 = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
    assert given_back([]) == given_back(None) == EXTENSIONS
    assert given_back([file]) == [file, *EXTENSIONS]
    assert given_back([eo1]) == [eo1, *EXTENSIONS[1:]]
    assert given_back([{"not": "a string"}, file]) == [file, *EXTENSIONS]
    first = given_back([file])
    first.append("changed")
    assert given_back([file]) == [file, *EXTENSIONS]
