"""The STAC API as STAC clients and the API validator expect it: links, the service
description, limits, RFC 3339 dates, every geometry type in `intersects`, OGC-shaped
errors in the client's language, `prev` links, and filters whose cost is bounded."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate

from dinamis.catalogue import cql2
from dinamis.catalogue.ingest import ingest
from dinamis.core.transaction import commit
from tests.catalogue.test_ingest import COLLECTION, item

EN = {"Accept-Language": "en"}
# The footprint of every scene here: the square 2..2.2 E, 45..45.2 N.
SQUARE = [[2, 45], [2.2, 45], [2.2, 45.2], [2, 45.2], [2, 45]]


@pytest.fixture
def scenes(app, tmp_path):
    lines = [json.dumps(COLLECTION)] + [json.dumps(item(n)) for n in range(1, 8)]
    path = tmp_path / "s.ndjson"
    path.write_text("\n".join(lines))
    with app.app_context():
        assert ingest([path]).errors == []
        commit()


def local(href: str) -> str:
    parts = urlsplit(href)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def rel(body: dict, name: str) -> dict:
    found = [link for link in body["links"] if link["rel"] == name]
    assert len(found) == 1, (name, body["links"])
    return found[0]


def ids(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [f["id"] for f in response.get_json()["features"]]


# --- links and the service description --------------------------------------------


def test_every_document_links_to_root_self_and_parent(client, scenes):
    landing = client.get("/stac").get_json()
    assert client.get("/stac/").get_json() == landing  # as many clients write a root
    assert client.get("/stac/collections/").status_code == 200
    collections = client.get("/stac/collections").get_json()
    for name in ("self", "root"):
        assert rel(collections, name)["type"] == "application/json"
    assert rel(collections, "self")["href"].endswith("/stac/collections")
    collection = client.get("/stac/collections/pleiades-archive").get_json()
    assert rel(collection, "parent")["href"] == rel(landing, "root")["href"]
    assert rel(collection, "http://www.opengis.net/def/rel/ogc/1.0/queryables")
    page = client.get("/stac/collections/pleiades-archive/items").get_json()
    assert rel(page, "root")["href"] == rel(landing, "root")["href"]
    assert rel(page, "self")["href"].endswith("/stac/collections/pleiades-archive/items")
    one = client.get("/stac/collections/pleiades-archive/items/PHR_0001").get_json()
    assert rel(one, "parent")["href"] == rel(collection, "self")["href"]
    assert rel(one, "collection")["href"] == rel(collection, "self")["href"]


def test_the_service_description_is_a_valid_openapi_30_document_served_by_the_app(client, scenes):
    landing = client.get("/stac").get_json()
    desc = rel(landing, "service-desc")
    assert desc["type"] == "application/vnd.oai.openapi+json;version=3.0"
    response = client.get(local(desc["href"]), headers={"Accept": desc["type"]})
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == "application/vnd.oai.openapi+json"
    document = json.loads(response.data)
    validate(document)  # raises if the document is not valid OpenAPI
    assert document["openapi"].startswith("3.0")
    assert {"/search", "/collections/{collectionId}/items"} <= set(document["paths"])
    doc = rel(landing, "service-doc")
    assert doc["type"] == "text/html"
    page = client.get(local(doc["href"]), headers={"Accept-Language": "fr"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Rechercher des items" in page.get_data(as_text=True)


# --- limit, datetime, bbox -------------------------------------------------------------


def test_a_limit_above_the_maximum_gives_the_maximum(client, scenes, monkeypatch):
    from dinamis.catalogue import search

    monkeypatch.setattr(search, "MAX_LIMIT", 3)
    assert len(ids(client.get("/stac/search?limit=10000"))) == 3
    assert len(ids(client.post("/stac/search", json={"limit": 10**30}))) == 3
    assert len(ids(client.post("/stac/search", json={"limit": 2.0}))) == 2


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "abc", "Infinity", "1e999", "NaN", "1e3"])
def test_a_limit_below_one_or_not_a_whole_number_is_a_400(client, scenes, value):
    response = client.get(f"/stac/search?limit={value}", headers=EN)
    assert response.status_code == 400
    assert "limit" in response.get_json()["description"]


@pytest.mark.parametrize("raw", ["1e999", "Infinity", "-Infinity", "NaN", "1.5", "true", '"5"'])
def test_a_posted_limit_that_is_not_a_whole_number_is_a_400(client, scenes, raw):
    response = client.post(
        "/stac/search", data=f'{{"limit": {raw}}}', content_type="application/json", headers=EN
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "limit" in response.get_json()["description"]


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-02t10:30:00.000z",
        "2024-05-02T10:30:00Z",
        "2024-05-02T12:30:00+02:00",
        "2024-05-02T10:30:00.000000001Z",
        "2024-05-02T00:00:00Z/..",
        "../2024-05-02T23:59:59Z",
        "/2024-05-02T23:59:59Z",
    ],
)
def test_rfc3339_datetimes_and_half_open_intervals_are_accepted(client, scenes, value):
    assert "PHR_0001" in ids(client.get("/stac/search", query_string={"datetime": value}))


@pytest.mark.parametrize(
    "value",
    [
        "1985-04-12",
        "/",
        "../..",
        "/..",
        "../",
        "..",
        "1937-01-01T12:00:27.87+0100",
        "1985-12-12T23:20:50.52",
        "1985-04-12T23:20:50.Z",
        "1985-04-12T23:20:50,Z",
        "1985-04-12T23:20:50,52Z",
        "1985-04-12 23:20:50Z",
        "1985-02-30T23:20:50Z",
        "1985-04-12T23:20:50+24:00",
    ],
)
def test_datetimes_that_are_not_rfc3339_are_a_400(client, scenes, value):
    response = client.get("/stac/search", query_string={"datetime": value}, headers=EN)
    assert response.status_code == 400
    assert "RFC 3339" in response.get_json()["description"]
    posted = client.post("/stac/search", json={"datetime": value})
    assert posted.status_code == 400


def test_a_posted_bbox_must_be_a_list_of_numbers(client, scenes):
    for bbox in ("100.0, 0.0, 105.0, 1.0", ["1", "2", "3", "4"], [1, 2, True, 4]):
        response = client.post("/stac/search", json={"bbox": bbox}, headers=EN)
        assert response.status_code == 400, bbox
        assert "bbox" in response.get_json()["description"]
    assert len(ids(client.get("/stac/search?bbox=1.9,44.9,2.3,45.3"))) == 7  # GET: a string
    assert len(ids(client.post("/stac/search", json={"bbox": [1.9, 44.9, 2.3, 45.3]}))) == 7


# --- geometries --------------------------------------------------------------------------

INSIDE = [2.1, 45.1]
EDGE = [2.2, 45.1]  # on the footprint's east edge
CORNER = [2, 45]
OUTSIDE = [3, 46]


@pytest.mark.parametrize(
    ("geometry", "matches"),
    [
        ({"type": "Point", "coordinates": INSIDE}, True),
        ({"type": "Point", "coordinates": EDGE}, True),
        ({"type": "Point", "coordinates": CORNER}, True),
        ({"type": "Point", "coordinates": [2.2, 45.1, 120.5]}, True),  # a height: dropped
        ({"type": "Point", "coordinates": OUTSIDE}, False),
        ({"type": "MultiPoint", "coordinates": [OUTSIDE, EDGE]}, True),
        ({"type": "MultiPoint", "coordinates": [OUTSIDE, [3.5, 46]]}, False),
        ({"type": "LineString", "coordinates": [[1.5, 45.1], [1.9, 45.1]]}, False),
        ({"type": "LineString", "coordinates": [[1.5, 45.1], [3, 45.1]]}, True),  # crosses
        ({"type": "LineString", "coordinates": [[2.2, 44], [2.2, 46]]}, True),  # along the edge
        ({"type": "MultiLineString", "coordinates": [[OUTSIDE, [3, 47]], [CORNER, [1, 44]]]}, True),
        ({"type": "Polygon", "coordinates": [SQUARE]}, True),
        ({"type": "MultiPolygon", "coordinates": [[SQUARE]]}, True),
        (
            {
                "type": "GeometryCollection",
                "geometries": [
                    {"type": "Point", "coordinates": OUTSIDE},
                    {"type": "LineString", "coordinates": [[2.1, 44], [2.1, 46]]},
                ],
            },
            True,
        ),
        (
            {
                "type": "GeometryCollection",
                "geometries": [{"type": "Point", "coordinates": OUTSIDE}],
            },
            False,
        ),
    ],
)
def test_intersects_takes_every_geojson_geometry_type(client, scenes, geometry, matches):
    get = ids(client.get("/stac/search", query_string={"intersects": json.dumps(geometry)}))
    post = ids(client.post("/stac/search", json={"intersects": geometry}))
    assert get == post
    assert len(get) == (7 if matches else 0)


@pytest.mark.parametrize(
    ("geometry", "words"),
    [
        ({"type": "Point", "coordinates": [2]}, "position"),
        ({"type": "Point", "coordinates": [200, 45]}, "longitude"),
        ({"type": "Point", "coordinates": [2, True]}, "position"),
        ({"type": "Point", "coordinates": "2,45"}, "coordinates"),
        ({"type": "Point"}, "coordinates"),
        ({"type": "LineString", "coordinates": [[2, 45]]}, "coordinates"),
        ({"type": "LineString", "coordinates": [[[2, 45]], [[3, 46]]]}, "position"),
        ({"type": "MultiPoint", "coordinates": []}, "empty"),
        ({"type": "GeometryCollection", "geometries": []}, "GeometryCollection"),
        ({"type": "Circle", "coordinates": [2, 45]}, "GeoJSON geometry"),
        ("not json", "GeoJSON geometry"),
    ],
)
def test_malformed_geometries_are_a_400_naming_the_problem(client, scenes, geometry, words):
    raw = geometry if isinstance(geometry, str) else json.dumps(geometry)
    response = client.get("/stac/search", query_string={"intersects": raw}, headers=EN)
    assert response.status_code == 400
    assert words in response.get_json()["description"]


@pytest.mark.parametrize(
    "aoi",
    [
        json.dumps({"type": "Point", "coordinates": EDGE}),
        json.dumps({"type": "LineString", "coordinates": [[1.5, 45.1], [3, 45.1]]}),
        "45.1, 2.2",  # a point typed as latitude, longitude
        "45,1 ; 2,2",  # with decimal commas
        "1.9, 44.9, 2.3, 45.3",  # a box: west, south, east, north
    ],
)
def test_a_point_line_or_typed_area_works_in_the_portal_too(client, scenes, aoi):
    page = client.get("/catalogue/", query_string={"aoi": aoi}, headers=EN)
    assert page.status_code == 200, page.get_data(as_text=True)[-2000:]
    assert "PHR_0001" in page.get_data(as_text=True)
    far = client.get("/catalogue/", query_string={"aoi": "48.85, 2.35"}, headers=EN)
    assert far.status_code == 200 and "PHR_0001" not in far.get_data(as_text=True)


@pytest.mark.parametrize(
    ("aoi", "words"), [("1 2 3", "two numbers"), ("95, 2", "latitude from -90 to 90")]
)
def test_a_mistyped_area_is_refused_with_a_message(client, scenes, aoi, words):
    page = client.get("/catalogue/", query_string={"aoi": aoi}, headers=EN)
    assert page.status_code == 400 and words in page.get_data(as_text=True)


# --- errors -----------------------------------------------------------------------------


def test_errors_take_the_ogc_shape_in_english_unless_french_is_asked(client, scenes):
    english = client.get("/stac/search?limit=0")
    assert english.status_code == 400
    body = english.get_json()
    assert set(body) == {"code", "description"} and body["code"] == "bad_request"
    assert body["description"] == "limit must be at least 1."
    french = client.get("/stac/search?limit=0", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert french.get_json()["description"] == "limit doit valoir au moins 1."
    missing = client.get("/stac/collections/nope")
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"
    assert "nope" in missing.get_json()["description"]
    unknown_route = client.get("/stac/nothing/here")
    assert unknown_route.status_code == 404 and set(unknown_route.get_json()) == {
        "code",
        "description",
    }


# --- pages --------------------------------------------------------------------------------


def test_prev_links_walk_back_through_the_same_pages(client, scenes):
    pages, url = [], "/stac/collections/pleiades-archive/items?limit=3"
    while url:
        body = client.get(url).get_json()
        pages.append([f["id"] for f in body["features"]])
        assert body["numberReturned"] == len(pages[-1])
        nxt = [link for link in body["links"] if link["rel"] == "next"]
        url = local(nxt[0]["href"]) if nxt else None
    assert [len(p) for p in pages] == [3, 3, 1]
    back, url = [], local(rel(body, "prev")["href"])
    while url:
        body = client.get(url).get_json()
        back.append([f["id"] for f in body["features"]])
        prev = [link for link in body["links"] if link["rel"] == "prev"]
        url = local(prev[0]["href"]) if prev else None
    assert back == [pages[1], pages[0]]
    posted = client.post("/stac/search", json={"limit": 3}).get_json()
    second = client.post("/stac/search", json=rel(posted, "next")["body"]).get_json()
    first_again = client.post("/stac/search", json=rel(second, "prev")["body"]).get_json()
    assert [f["id"] for f in first_again["features"]] == [f["id"] for f in posted["features"]]
    assert not [link for link in first_again["links"] if link["rel"] == "prev"]


# --- filters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("mission LIKE 'sentinel%'", 0),
        ("mission NOT LIKE 'sentinel%'", 0),
        ("mission = 3", 0),
        ("mission IS NULL", 7),
        ("S_INTERSECTS(mission, POINT(2.1 45.1))", 0),
        ("mission IS NULL AND eo:cloud_cover > 100", 0),
    ],
)
def test_a_property_outside_the_queryables_is_null(client, scenes, text, count):
    assert len(ids(client.get("/stac/search", query_string={"filter": text}))) == count
    queryables = client.get("/stac/queryables").get_json()
    assert queryables["additionalProperties"] is True and "null" in queryables["description"]


@pytest.mark.parametrize("value", [5, [], "a string", True, None])
def test_a_cql2_json_filter_that_is_not_an_object_is_a_400(client, scenes, value):
    body = {"filter": value, "filter-lang": "cql2-json"}
    if value is None:
        body["filter"] = "null"
    response = client.post("/stac/search", json=body, headers=EN)
    assert response.status_code == 400, response.get_data(as_text=True)


def _cpu(client, params) -> tuple[float, object]:
    """The request's CPU in this thread, the least of three tries: a collection of the
    worker's whole heap, or another thread's work (a full run's background servers), once
    cost a valid 150-term filter 0.39 s of process time; a costly parse costs it every time."""
    spent = []
    for _ in range(3):
        start = time.thread_time()
        response = client.get("/stac/search", query_string=params, headers=EN)
        spent.append(time.thread_time() - start)
    return min(spent), response


def test_a_bad_filter_costs_about_what_a_good_one_does(client, scenes):
    good = "datetime > TIMESTAMP('2024-01-01T00:00:00Z') AND eo:cloud_cover < 50"
    client.get("/stac/search", query_string={"filter": good})  # the grammar, once
    good_cpu, response = _cpu(client, {"filter": good})
    assert response.status_code == 200
    bad = [  # each with its answer: refused, or (a long but valid chain) searched
        ("datetime > TIMESTAMP('2024-02-31T00:00:00Z')", 400),  # cost 0.2-7 s: lark's dump
        ("datetime > TIMESTAMP('2024-01-01T25:00:00Z') OR eo:cloud_cover < 50", 400),
        (" OR ".join(["datetime > TIMESTAMP('2024-01-01T00:00:00Z')"] * 150), 200),  # dateparser
        ("(" * 5000 + "eo:cloud_cover < 3" + ")" * 5000, 400),
        ("eo:cloud_cover " + "+ 1 " * 5000 + "> 3", 400),
    ]
    for text, status in bad:
        cpu, response = _cpu(client, {"filter": text})
        assert response.status_code == status, text[:60]
        assert cpu < max(0.15, 10 * good_cpu), (text[:60], cpu, good_cpu)
    for depth in (60, 3000):  # deeper than the filter's bound, deeper than Python's
        deep = '{"op": "not", "args": [' * depth + '{"op": "=", "args": [{"property": "id"}, "x"]}'
        body = f'{{"filter-lang": "cql2-json", "filter": {deep}{"]}" * depth}}}'
        spent = []
        for _ in range(3):
            start = time.thread_time()
            response = client.post("/stac/search", data=body, content_type="application/json")
            spent.append(time.thread_time() - start)
            assert response.status_code == 400
        assert min(spent) < max(0.15, 10 * good_cpu)


def test_a_long_chain_of_or_is_balanced_not_a_recursion_error(app, client, scenes):
    text = " OR ".join(f"id = 'PHR_{n:04d}'" for n in range(1, 400))
    assert len(ids(client.get("/stac/search", query_string={"filter": text, "limit": 50}))) == 7
    assert len(text) <= cql2.MAX_TEXT
