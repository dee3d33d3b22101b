"""Coverage of an AOI by the catalogue, as the tasking form asks for it."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from shapely.geometry import MultiPolygon, box, mapping

from dinamis.catalogue.coverage import coverage
from dinamis.catalogue.ingest import ingest
from dinamis.core.transaction import commit
from tests.catalogue.test_ingest import COLLECTION, item
from tests.conftest import login

AOI = MultiPolygon([box(2.0, 45.0, 2.4, 45.2)])  # the scenes cover its western half


def _load(app, tmp_path):
    collection = {**COLLECTION, "dinamis": {**COLLECTION["dinamis"], "sensor_family": "pleiades"}}
    cloudy = item(2)
    cloudy["properties"]["eo:cloud_cover"] = 80
    path = tmp_path / "c.ndjson"
    path.write_text("\n".join(json.dumps(x) for x in (collection, item(1), cloudy)))
    with app.app_context():
        ingest([path])
        commit()


def test_half_covered(app, tmp_path):
    _load(app, tmp_path)
    with app.app_context():
        found = coverage(AOI, sensor_family="pleiades")
        assert found.scenes == 2
        assert Decimal("49") < found.percent < Decimal("51")
        assert abs(found.covered_km2 * 2 - found.aoi_km2) < Decimal("2")
        assert coverage(AOI, sensor_family="spot").percent == 0
        assert coverage(AOI, sensor_family="pleiades", max_cloud=Decimal("20")).scenes == 1


def test_the_form_asks_with_its_csrf_token(app, client, cast, tmp_path):
    _load(app, tmp_path)
    login(client, cast.user_a)
    page = client.get("/orders/tasking/new").get_data(as_text=True)
    token = re.search(r'data-csrf="([^"]+)"', page).group(1)
    body = {"aoi": mapping(AOI), "sensor": "pleiades", "max_cloud_cover": "100"}
    refused = client.post("/orders/coverage", json=body)
    assert refused.status_code == 400  # no CSRF token
    answer = client.post("/orders/coverage", json=body, headers={"X-CSRFToken": token})
    assert answer.status_code == 200
    assert answer.get_json()["scenes"] == 2 and "%" in answer.get_json()["message"]
    bad = client.post(
        "/orders/coverage",
        json={"aoi": {"type": "Point", "coordinates": [2, 45]}},
        headers={"X-CSRFToken": token},
    )
    assert bad.status_code == 422


def test_a_search_meeting_many_scenes_is_measured_on_a_grid(app, tmp_path, monkeypatch):
    """Beyond EXACT_UNION_MAX matches, the share of a grid of points held by a matching
    footprint: within a point or two of the union's, and said to be approximate."""
    from dinamis.catalogue import coverage as module
    from dinamis.catalogue import search

    _load(app, tmp_path)
    area = {
        "type": "Polygon",
        "coordinates": [[[2, 45], [2.4, 45], [2.4, 45.2], [2, 45.2], [2, 45]]],
    }
    with app.test_request_context():
        exact = module.for_search(search.parse({"intersects": area}), matched=2)
        assert exact is not None and not exact.approximate and exact.scenes == 2
        grid = module.for_search(search.parse({"intersects": area}), matched=None)
        assert grid is not None and grid.approximate and grid.scenes is None
        assert abs(grid.percent - exact.percent) <= Decimal("2")
        assert grid.aoi_km2 == exact.aoi_km2
        # The search's filters hold on the grid too: none of these scenes is this clear.
        clear = module.for_search(search.parse({"intersects": area, "max_cloud": 5}), None)
        assert clear is not None and clear.percent == 0
        monkeypatch.setattr(module, "EXACT_UNION_MAX", 1)
        assert module.for_search(search.parse({"intersects": area}), matched=2).approximate


def test_the_portal_says_about_when_the_coverage_is_measured_on_the_grid(app, client, tmp_path):
    from dinamis.catalogue import coverage as module

    _load(app, tmp_path)
    aoi = json.dumps(mapping(AOI))
    page = client.get("/catalogue/", query_string={"aoi": aoi}, headers={"Accept-Language": "en"})
    assert "The catalogue covers 50" in page.get_data(as_text=True)
    module.EXACT_UNION_MAX, before = 0, module.EXACT_UNION_MAX
    try:
        page = client.get(
            "/catalogue/", query_string={"aoi": aoi}, headers={"Accept-Language": "fr"}
        ).get_data(as_text=True)
    finally:
        module.EXACT_UNION_MAX = before
    assert "Le catalogue couvre environ" in page
