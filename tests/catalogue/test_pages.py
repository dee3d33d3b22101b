"""The catalogue's web pages, open to anonymous visitors."""

from __future__ import annotations

import json

from shapely.geometry import box, mapping

from tests.catalogue.test_stac import scenes  # noqa: F401 - the fixture


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
    assert "eo:cloud_cover" in page and "custom:thing" in page
    assert client.get("/catalogue/scenes/NOPE").status_code == 404
