"""The catalogue's web pages, open to anonymous visitors."""

from __future__ import annotations

import json
import re

from shapely.geometry import box, mapping

from tests.catalogue.test_stac import scenes  # noqa: F401 - the fixture
from tests.catalogue.test_stac_query import varied  # noqa: F401 - the fixture


def test_anonymous_search_lists_scenes_and_footprints(client, scenes):  # noqa: F811
    page = client.get("/catalogue/").get_data(as_text=True)
    assert "PHR_0025" in page and 'id="footprints"' in page
    aoi = json.dumps(mapping(box(-4.1, 47.9, -3.7, 48.3)))
    near = client.get("/catalogue/", query_string={"aoi": aoi}).get_data(as_text=True)
    assert "PHR_0021" in near and "PHR_0001" not in near
    cloudy = client.get("/catalogue/?max_cloud=10").get_data(as_text=True)
    assert "PHR_0003" in cloudy and "PHR_0004" not in cloudy


def test_bad_inputs_are_clear_400s(client, scenes):  # noqa: F811
    backwards = client.get("/catalogue/?start=2024-06-01&end=2024-05-01")
    assert backwards.status_code == 400
    bowtie = json.dumps(
        {"type": "Polygon", "coordinates": [[[2, 45], [3, 46], [3, 45], [2, 46], [2, 45]]]}
    )
    assert client.get("/catalogue/", query_string={"aoi": bowtie}).status_code == 400


def test_scene_page(client, scenes):  # noqa: F811
    page = client.get("/catalogue/scenes/PHR_0001").get_data(as_text=True)
    assert "Cloud cover" in page or "Couverture nuageuse" in page
    assert "eo:cloud_cover" not in page.split("<main")[1].split("STAC</a>")[1]  # a label, not a key
    assert "custom:thing" in page  # a property the catalogue does not know is shown as given
    # its footprint, for the page's map (static/js/shape-map.js)
    found = re.search(
        r'<script type="application/json" id="scene-footprint-map-geojson">(.*?)</script>', page
    )
    assert found and json.loads(found.group(1))["type"] in ("Polygon", "MultiPolygon")
    assert 'id="scene-footprint-map"' in page and "js/shape-map.js" in page
    assert client.get("/catalogue/scenes/NOPE").status_code == 404


def test_portal_filters(client, varied):  # noqa: F811
    def listed(query: str) -> set[str]:
        page = client.get(f"/catalogue/?{query}")
        assert page.status_code == 200
        return set(re.findall(r'data-scene="([^"]+)"', page.get_data(as_text=True)))

    assert listed("max_incidence=6") == {"PHR_0001", "PHR_0002", "PHR_0003"}
    assert listed("processing_level=primary&max_cloud=20") == {"PHR_0002", "PHR_0004"}
    assert listed("spectral_mode=PAN") == {"PHR_0004", "PHR_0008", "PHR_0012"}
    assert listed("stereo=1") == {"PHR_0003", "PHR_0004"}
    ordered = client.get("/catalogue/?sortby=%2Beo:cloud_cover").get_data(as_text=True)
    assert re.findall(r'data-scene="([^"]+)"', ordered)[:2] == ["PHR_0001", "PHR_0002"]
    assert client.get("/catalogue/?max_incidence=95").status_code == 400


def test_stereo_companions_on_the_scene_page(client, varied):  # noqa: F811
    page = client.get("/catalogue/scenes/PHR_0003").get_data(as_text=True)
    assert "/catalogue/scenes/PHR_0004" in page


def test_coverage_of_the_searched_area(client, scenes):  # noqa: F811
    half = json.dumps(mapping(box(2.1, 45, 2.3, 45.2)))  # half inside the scenes' square
    page = client.get("/catalogue/", query_string={"aoi": half}).get_data(as_text=True)
    found = re.search(r'id="search-coverage"[^>]*>([^<]+)<', page)
    assert found and "50,0" in found.group(1), page
    nothing = client.get("/catalogue/", query_string={"aoi": half, "max_cloud": "1"})
    found = re.search(r'id="search-coverage"[^>]*>([^<]+)<', nothing.get_data(as_text=True))
    assert found and " 0,0 " in found.group(1)
