"""STAC search extensions: CQL2 filters, sortby, fields, queryables; schema validity."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from pystac.stac_object import STACObjectType
from pystac.validation.stac_validator import JsonSchemaSTACValidator
from pystac.version import STACVersion

from dinamis.catalogue import search
from dinamis.catalogue.ingest import ingest
from dinamis.core.transaction import commit
from tests.catalogue.test_ingest import COLLECTION, item

LEVELS = ["primary", "ortho"]
MODES = ["PAN", "MS", "PMS", "bundle"]


@pytest.fixture
def varied(app, tmp_path):
    """12 scenes: cloud n*5, incidence n*2, levels and modes alternating, one stereo pair."""
    lines = [json.dumps(COLLECTION)]
    for n in range(1, 13):
        scene = item(n)
        props = scene["properties"]
        props["eo:cloud_cover"] = n * 5
        props["view:incidence_angle"] = n * 2
        props["processing:level"] = LEVELS[n % 2]
        props["dinamis:spectral_mode"] = MODES[n % 4]
        props["platform"] = "pleiades-1a" if n <= 6 else "pleiades-1b"
        if n in (3, 4):
            props["dinamis:stereo_group"] = "pair-1"
        lines.append(json.dumps(scene))
    path = tmp_path / "v.ndjson"
    path.write_text("\n".join(lines))
    with app.app_context():
        assert ingest([path]).errors == []
        commit()


def ids(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [f["id"] for f in response.get_json()["features"]]


def phr(*numbers: int) -> set[str]:
    return {f"PHR_{n:04d}" for n in numbers}


# --- CQL2 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eo:cloud_cover <= 15", phr(1, 2, 3)),
        ("eo:cloud_cover > 50 AND view:incidence_angle < 24", phr(11)),
        ("platform = 'pleiades-1b' AND eo:cloud_cover BETWEEN 40 AND 45", phr(8, 9)),
        ("processing:level = 'primary' AND eo:cloud_cover < 20", phr(2)),
        ("dinamis:spectral_mode IN ('PAN', 'MS')", phr(4, 8, 12, 1, 5, 9)),
        ("platform LIKE 'pleiades-1%' AND NOT eo:cloud_cover > 5", phr(1)),
        ("dinamis:stereo_group IS NOT NULL", phr(3, 4)),
        ("properties.eo:cloud_cover = 60", phr(12)),
        ("datetime < TIMESTAMP('2024-05-04T00:00:00Z')", phr(1, 2)),
        ("datetime T_BEFORE TIMESTAMP('2024-05-04T00:00:00Z')", phr(1, 2)),  # pygeofilter's form
        ("S_INTERSECTS(geometry, BBOX(1.9, 44.9, 2.1, 45.1)) AND eo:cloud_cover < 10", phr(1)),
        ("S_INTERSECTS(geometry, POINT(50 50))", set()),
    ],
)
def test_cql2_text_filters(client, varied, text, expected):
    get = client.get("/stac/search", query_string={"filter": text, "limit": 100})
    assert set(ids(get)) == expected
    post = client.post("/stac/search", json={"filter": text, "filter-lang": "cql2-text"})
    assert set(ids(post)) == expected


def test_cql2_json_filter(client, varied):
    body = {
        "filter-lang": "cql2-json",
        "filter": {
            "op": "and",
            "args": [
                {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 30]},
                {"op": "=", "args": [{"property": "processing:level"}, "ortho"]},
                {
                    "op": "s_intersects",
                    "args": [
                        {"property": "geometry"},
                        {
                            "type": "Polygon",
                            "coordinates": [[[1, 44], [3, 44], [3, 46], [1, 46], [1, 44]]],
                        },
                    ],
                },
            ],
        },
    }
    assert set(ids(client.post("/stac/search", json=body))) == phr(1, 3, 5)
    as_text = json.dumps(body["filter"])
    get = client.get("/stac/search", query_string={"filter": as_text, "filter-lang": "cql2-json"})
    assert set(ids(get)) == phr(1, 3, 5)


def test_filter_on_collection_items(client, varied):
    response = client.get(
        "/stac/collections/pleiades-archive/items", query_string={"filter": "gsd = 0.5"}
    )
    assert len(ids(response)) == 10  # the page size; all 12 match


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"filter": "eo:cloud_cover <="}, "filter"),
        ({"filter": "eo:cloud_cover = 'high'"}, "eo:cloud_cover"),
        ({"filter": "platform > 3"}, "platform"),
        ({"filter": "eo:cloud_cover LIKE '1%'"}, "eo:cloud_cover"),
        ({"filter": "eo:cloud_cover + 1 > 3"}, ""),
        ({"filter": "eo:cloud_cover > 1", "filter-lang": "sql"}, "filter-lang"),
        ({"filter": "{not json", "filter-lang": "cql2-json"}, "filter"),
        ({"filter": '{"op": "explode", "args": []}', "filter-lang": "cql2-json"}, ""),
        ({"filter": "eo:cloud_cover > 1", "filter-crs": "EPSG:2154"}, "filter-crs"),
        ({"filter": "S_INTERSECTS(geometry, POINT(500 50))"}, "out of range"),
        ({"filter": "S_INTERSECTS(geometry, BBOX(1, 2, 3))"}, "BBOX"),
        ({"filter": f"S_INTERSECTS(geometry, POINT({10**400} 50))"}, ""),
        ({"filter": "S_INTERSECTS(geometry, POLYGON((0 0, 1e400 0, 1 1, 0 0)))"}, ""),
        (
            {
                "filter": '{"op": "s_intersects", "args": [{"property": "geometry"}, '
                '{"type": "Point", "coordinates": [Infinity, 1]}]}',
                "filter-lang": "cql2-json",
            },
            "",
        ),
    ],
)
def test_filter_refusals_are_clear_400s(client, varied, params, words):
    response = client.get("/stac/search", query_string=params, headers={"Accept-Language": "en"})
    assert response.status_code == 400, response.get_data(as_text=True)
    message = response.get_json()["description"]
    assert message and words in message


# --- sortby and pages ---------------------------------------------------------


def walk(client, url: str) -> list[str]:
    seen: list[str] = []
    while url:
        page = client.get(url)
        seen += ids(page)
        nxt = [link for link in page.get_json()["links"] if link["rel"] == "next"]
        url = None
        if nxt:
            parts = urlsplit(nxt[0]["href"])
            url = f"{parts.path}?{parts.query}"
    return seen


def test_sortby_ascending_descending_and_mixed(client, varied):
    ascending = ids(client.get("/stac/search?sortby=eo:cloud_cover&limit=100"))
    assert ascending == [f"PHR_{n:04d}" for n in range(1, 13)]
    descending = ids(client.get("/stac/search?sortby=-eo:cloud_cover&limit=100"))
    assert descending == list(reversed(ascending))
    mixed = ids(client.get("/stac/search?sortby=+platform,-view:incidence_angle&limit=100"))
    assert mixed == [f"PHR_{n:04d}" for n in (6, 5, 4, 3, 2, 1, 12, 11, 10, 9, 8, 7)]
    posted = client.post(
        "/stac/search",
        json={"sortby": [{"field": "properties.eo:cloud_cover", "direction": "desc"}]},
    )
    assert ids(posted)[:2] == ["PHR_0012", "PHR_0011"]


@pytest.mark.parametrize(
    "sortby", ["-eo:cloud_cover", "+platform,-view:incidence_angle", "datetime", "-id"]
)
def test_pages_follow_the_sort_without_gaps(client, varied, sortby):
    whole = ids(client.get("/stac/search", query_string={"sortby": sortby, "limit": 100}))
    paged = walk(client, f"/stac/search?sortby={sortby}&limit=5")
    assert paged == whole and len(set(paged)) == 12


def test_nullable_sort_key_pages_through_nulls(client, varied):
    whole = ids(client.get("/stac/search?sortby=dinamis:stereo_group,id&limit=100"))
    assert walk(client, "/stac/search?sortby=dinamis:stereo_group,id&limit=3") == whole


def test_post_pages_follow_the_sort(client, varied):
    body = {"limit": 5, "sortby": [{"field": "eo:cloud_cover", "direction": "asc"}]}
    seen = []
    while body:
        page = client.post("/stac/search", json=body).get_json()
        seen += [f["id"] for f in page["features"]]
        nxt = [link for link in page["links"] if link["rel"] == "next"]
        body = nxt[0]["body"] if nxt else None
    assert seen == [f"PHR_{n:04d}" for n in range(1, 13)]


@pytest.mark.parametrize(
    "sortby",
    ["geometry", "nope", "-", "gsd,-gsd", "id,gsd,platform,datetime,collection,eo:cloud_cover"],
)
def test_bad_sortby_is_a_400(client, varied, sortby):
    response = client.get("/stac/search", query_string={"sortby": sortby})
    assert response.status_code == 400
    assert response.get_json()["description"]


def test_a_token_from_another_sort_is_refused(client, varied):
    page = client.get("/stac/search?sortby=eo:cloud_cover&limit=5").get_json()
    href = next(link["href"] for link in page["links"] if link["rel"] == "next")
    token = dict(pair.split("=", 1) for pair in urlsplit(href).query.split("&"))["token"]
    response = client.get(f"/stac/search?sortby=-datetime&limit=5&token={token}")
    assert response.status_code == 400


# --- fields -------------------------------------------------------------------


def test_fields_include_and_exclude(client, varied):
    slim = client.get(
        "/stac/search?fields=id,properties.eo:cloud_cover&limit=1&sortby=id"
    ).get_json()
    feature = slim["features"][0]
    assert set(feature) == {"type", "stac_version", "id", "links", "properties"}
    assert feature["properties"] == {"eo:cloud_cover": 5.0}
    posted = client.post(
        "/stac/search",
        json={
            "limit": 1,
            "sortby": "id",
            "fields": {"exclude": ["geometry", "properties.custom:thing"]},
        },
    ).get_json()["features"][0]
    assert "geometry" not in posted and "custom:thing" not in posted["properties"]
    assert posted["properties"]["eo:cloud_cover"] == 5.0
    never_gone = client.get("/stac/search?fields=-id,-type&limit=1").get_json()["features"][0]
    assert never_gone["id"] and never_gone["type"] == "Feature"


# --- queryables, count cap, schema validity ---------------------------------


def test_queryables_document(client, varied):
    response = client.get("/stac/queryables")
    assert response.mimetype == "application/schema+json"
    body = response.get_json()
    assert body["properties"]["eo:cloud_cover"]["maximum"] == 100
    assert body["properties"]["datetime"]["format"] == "date-time"
    one = client.get("/stac/collections/pleiades-archive/queryables").get_json()
    assert one["$id"].endswith("/collections/pleiades-archive/queryables")
    assert client.get("/stac/collections/nope/queryables").status_code == 404
    landing = client.get("/stac").get_json()
    assert any(
        link["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/queryables"
        for link in landing["links"]
    )


def test_number_matched_only_when_the_page_holds_every_match(client, varied, monkeypatch):
    assert client.get("/stac/search?limit=100").get_json()["numberMatched"] == 12
    paged = client.get("/stac/search?limit=5").get_json()
    assert "numberMatched" not in paged and paged["numberReturned"] == 5
    # The portal counts, up to the cap (test_search_plans: then an estimate).
    english = {"Accept-Language": "en"}
    assert "12 scene(s) match" in client.get("/catalogue/", headers=english).get_data(as_text=True)
    monkeypatch.setattr(search, "MATCH_CAP", 5)  # the page holds them all: counted anyway
    assert "12 scene(s) match" in client.get("/catalogue/", headers=english).get_data(as_text=True)


def test_responses_validate_against_the_stac_schemas(client, varied):
    validator = JsonSchemaSTACValidator()
    version = STACVersion.DEFAULT_STAC_VERSION
    landing = client.get("/stac").get_json()
    assert landing["stac_version"] == version
    validator.validate_core(landing, STACObjectType.CATALOG, version)
    collection = client.get("/stac/collections/pleiades-archive").get_json()
    validator.validate_core(collection, STACObjectType.COLLECTION, version)
    for feature in client.get("/stac/search?limit=100").get_json()["features"]:
        validator.validate_core(feature, STACObjectType.ITEM, version)
    one = client.get("/stac/collections/pleiades-archive/items/PHR_0003").get_json()
    validator.validate_core(one, STACObjectType.ITEM, version)


def test_a_search_runs_without_jit_parallel_workers_or_generic_plans(app):
    """A search's statements are never prepared (each is planned for its values), but
    its walks' (tests/catalogue/test_search_plans.py); the same statement run outside
    `custom_plans` is, after five runs."""
    from sqlalchemy import text

    from dinamis.extensions import db

    prepared = text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :s")
    with app.test_request_context():
        settings = [
            db.session.scalar(text(f"SHOW {name}"))
            for name in ("jit", "max_parallel_workers_per_gather")
        ]
        assert settings == ["off", "0"]
        params = {"bbox": [-180, -90, 180, 90], "limit": 2}
        for _ in range(8):
            search.run(search.parse(params), count=False, rows=True)
            search.run(search.parse(params), count=True)
        assert db.session.scalar(prepared, {"s": "%FROM scenes%"}) == 0
        for _ in range(6):
            db.session.execute(text("SELECT count(*) FROM scenes WHERE id = :i"), {"i": "x"})
        assert db.session.scalar(prepared, {"s": "%FROM scenes%"}) == 1
        db.session.rollback()


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 2},
        {"bbox": [-180, -90, 180, 90], "limit": 3},
        {"bbox": [-180, -90, 180, 90], "datetime": "2000-01-01T00:00:00Z/..", "limit": 5},
        {"bbox": "-180,-90,180,90", "sortby": "+eo:cloud_cover,-datetime", "limit": 4},
        {"bbox": [-180, -90, 180, 90], "sortby": "-eo:cloud_cover", "limit": 4},
        {"sortby": "+view:incidence_angle", "limit": 5, "max_cloud": 40},
        {"ids": ["PHR_0001", "PHR_0005", "PHR_0007", "nope"], "limit": 2},
        {"collections": ["pleiades-archive"], "processing_level": "ortho", "limit": 2},
        {"spectral_mode": "PAN,MS", "stereo": "true", "max_incidence": 30, "limit": 1},
        {"limit": 1000},
        {"bbox": [2.05, 45.05, 2.15, 45.15], "limit": 5},
        {"intersects": {"type": "Point", "coordinates": [2.1, 45.1]}, "limit": 5},
        {
            "intersects": {
                "type": "Polygon",
                "coordinates": [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]],
            },
            "limit": 4,
        },
    ],
)
def test_every_plan_and_both_readings_give_the_same_pages(app, varied, params):
    """Each page read by the walk of the sort's index, by the area first and by the
    planner's plan, as plain rows (STAC) and as Scene objects (the portal): the same
    scenes, in the same order, with the same tokens."""
    with app.test_request_context():
        plans = [search.PLAIN]
        if search._has_area(search.parse(params)):
            plans.append(search.AREA)
        if search._walkable(search.parse(params)):
            plans.append(search.WALK)
        if search.cells(search.parse(params)):
            plans.append(search.CELLS)
        seen: list[str] = []
        token = None
        for _ in range(20):
            pages = []
            for plan in plans:
                for rows in (True, False):
                    query = search.parse({**params, **({"token": token} if token else {})})
                    page = search.run_page(query, count=not rows, rows=rows, plan=plan)
                    # A walk that ends without a full page (the last) gives way to the area.
                    walks = (search.WALK, search.CELLS)
                    assert page.plan in ((plan, search.AREA) if plan in walks else (plan,))
                    pages.append(([r.id for r in page.rows], page.next, page.prev))
            assert all(page == pages[0] for page in pages), (plans, pages)
            seen += pages[0][0]
            token = pages[0][1]
            if token is None:
                break
        assert len(seen) == len(set(seen))
        if params.get("ids"):
            assert set(seen) == {"PHR_0001", "PHR_0005", "PHR_0007"}


@pytest.mark.parametrize(
    ("cql", "words"),
    [
        ("eo:cloud_cover > 99999999999999999999", "bigint out of range"),
        ("S_INTERSECTS(geometry, POLYGON((0 0, 0 0, 0 0, 0 0)))", "more points"),
    ],
)
def test_a_filter_the_database_refuses_is_a_400_and_the_next_search_works(
    client, varied, cql, words
):
    response = client.get(
        "/stac/search", query_string={"filter": cql}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert words in response.get_json()["description"]
    after = client.get("/stac/search", query_string={"filter": "eo:cloud_cover >= 0"})
    assert after.status_code == 200
    assert after.get_json()["features"]


def test_the_walk_by_boxes_keeps_what_meets_the_area_and_only_that(app, client, tmp_path):
    """The walk of a search with an area tests the footprints' boxes (kept by
    PostgreSQL) before the footprints: scenes split at the antimeridian (their box
    spans the world) are found on both sides, and a scene whose box meets the area
    but whose footprint does not is left out, page after page, with both sorts
    (pages of 2 among 3 matches: the walk's result, not the planner's fallback)."""

    def scene(n: int, coordinates: list, cloud: float) -> dict:
        made = item(n, geometry={"type": "Polygon", "coordinates": [coordinates]})
        made["properties"]["eo:cloud_cover"] = cloud
        return made

    crossing = [[179.5, -17], [-179.5, -17], [-179.5, -16], [179.5, -16], [179.5, -17]]
    # An L whose box is 2..4 x 45..47 but which leaves out the corner 3..4 x 46..47;
    # the newest and least cloudy: first in both sorts if it were let in.
    ell = [[2, 45], [4, 45], [4, 46], [3, 46], [3, 47], [2, 47], [2, 45]]
    corner = [[3, 46], [4, 46], [4, 47], [3, 47], [3, 46]]
    scenes = [scene(n, crossing, 10 + n) for n in (1, 3, 5)]
    scenes += [scene(n, corner, 20 + n) for n in (4, 6, 8)]
    scenes.append(scene(20, ell, 0))
    path = tmp_path / "w.ndjson"
    path.write_text("\n".join(json.dumps(x) for x in (COLLECTION, *scenes)) + "\n")
    with app.app_context():
        assert ingest([path]).errors == []
        commit()
    cases = [
        ("179.6,-16.8,179.9,-16.2", ["PHR_0001", "PHR_0003", "PHR_0005"]),
        ("-179.9,-16.8,-179.6,-16.2", ["PHR_0001", "PHR_0003", "PHR_0005"]),
        ("3.2,46.2,3.8,46.8", ["PHR_0004", "PHR_0006", "PHR_0008"]),  # in the L's box only
    ]
    for bbox, expected in cases:
        for sortby, ordered in (("-datetime", expected[::-1]), ("+eo:cloud_cover", expected)):
            url = f"/stac/search?bbox={bbox}&sortby={sortby.replace('+', '%2B')}&limit=2"
            assert walk(client, url) == ordered, (bbox, sortby)
            with app.test_request_context():
                query = search.parse({"bbox": bbox, "sortby": sortby, "limit": 2})
                walks = [search.WALK] + ([search.CELLS] if search.cells(query) else [])
                assert len(walks) == (2 if sortby == "-datetime" else 1)
                for plan in walks:
                    page = search.run_page(query, count=False, rows=True, plan=plan)
                    assert page.plan == plan  # the walk held the page
                    assert [r.id for r in page.rows] == ordered[:2]
