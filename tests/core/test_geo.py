"""core.geo's one door for AOIs: malformed GeoJSON is a clear refusal, never a crash."""

from __future__ import annotations

import pytest

from dinamis.core.errors import ServiceError
from dinamis.core.geo import parse_aoi, parse_footprint, parse_footprints

MALFORMED = [
    {"type": "Polygon"},  # no coordinates
    {"type": "MultiPolygon"},
    {"type": "Polygon", "coordinates": None},
    {"type": "Feature"},
    {"type": "Feature", "geometry": "Polygon"},
    {"type": "FeatureCollection", "features": ["x"]},
    {"type": "FeatureCollection", "features": {"a": 1}},
    {"type": "FeatureCollection", "features": [{"geometry": {"type": "Polygon"}}]},
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_aois_are_refused_with_a_message(app, raw):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        with pytest.raises(ServiceError) as refused:
            parse_aoi(raw)
        assert refused.value.message


@pytest.mark.parametrize("raw", [{"type": "Polygon"}, {"type": "MultiPolygon"}])
def test_footprints_without_coordinates_are_refused(app, raw):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        with pytest.raises(ServiceError, match="malformed"):
            parse_footprint(raw)
        (refused,) = parse_footprints([raw])
        assert isinstance(refused, ServiceError) and "malformed" in refused.message


def test_search_page_answers_400_for_a_polygon_without_coordinates(client):
    answer = client.get(
        "/catalogue/",
        query_string={"aoi": '{"type": "Polygon"}'},
        headers={"Accept-Language": "en"},
    )
    assert answer.status_code == 400
    assert "malformed" in answer.get_data(as_text=True)
