"""What a refused form says is at the field, true, and in the reader's language
(found by the edges sweep of the live portal)."""

from __future__ import annotations

import html
import json
import re

import pytest

from dinamis.core.errors import ServiceError
from dinamis.core.geo import parse_aoi
from tests.api.test_orders_api import archive_scenes  # noqa: F401 - the fixture
from tests.conftest import login
from tests.helpers import form_tokens


def _error(html: str, field_id: str) -> str:
    found = re.search(rf'id="{re.escape(field_id)}-error">([^<]*)<', html)
    return found.group(1) if found else ""


@pytest.mark.parametrize(
    "area",
    [
        {"type": "Feature", "geometry": None, "properties": {}},
        {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}}]},
        {"coordinates": [[[1, 43], [2, 43], [2, 44], [1, 43]]]},
    ],
)
def test_an_area_without_a_geometry_type_is_refused_in_french(app, area):
    with (
        app.test_request_context(headers={"Accept-Language": "fr"}),
        pytest.raises(ServiceError) as refused,
    ):
        parse_aoi(json.dumps(area))
    message = refused.value.message
    assert "nothing" not in message  # an English word in the French sentence, before
    assert "polygone" in message


@pytest.mark.parametrize("typed", ["2027-02-30", "0000-00-00", "31/12/2027"])
def test_a_tasking_window_date_that_is_no_date_says_so_not_required(app, client, cast, typed):
    from tests.orders.test_web import _form, _setup

    _setup(app, cast)
    login(client, cast.user_a)
    response = client.post(
        "/orders/tasking/new",
        data=_form(client, window_start=typed),
        headers={"Accept-Language": "fr"},
    )
    assert response.status_code == 422
    message = _error(response.get_data(as_text=True), "window_start")
    assert message and "requis" not in message  # it was given: it is not a date


def test_the_webhook_channel_without_a_webhook_says_so_at_the_field(app, client, cast):
    login(client, cast.user_a)
    response = client.post(
        "/alerts/new",
        data={
            **form_tokens(client, "/alerts/new"),
            "name": "Coast",
            "aoi": "43.6, 1.44",
            "when": "from_now",
            "frequency": "daily",
            "channel": "webhook",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert _error(html, "webhook_id")  # the summary says "see the messages beside each"


def _named(crs: str, ring: list[list[float]]) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": crs}},
            "features": [
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
            ],
        }
    )


SMALL_NUMBERS = [[57, 62], [59, 62], [59, 63], [57, 63], [57, 62]]


@pytest.mark.parametrize(
    "crs", ["urn:ogc:def:crs:EPSG::2154", "EPSG:3857", "urn:ogc:def:crs:EPSG::32631", "nonsense"]
)
def test_geojson_that_names_another_crs_is_refused_naming_it(app, crs):
    """An older GeoJSON (2008) may name its CRS: Lambert-93 metres that happen to look like
    degrees were read as a place in Siberia (11,486 km², accepted) before."""
    with (
        app.test_request_context(headers={"Accept-Language": "en"}),
        pytest.raises(ServiceError) as refused,
    ):
        parse_aoi(_named(crs, SMALL_NUMBERS))
    assert crs in refused.value.message and "WGS 84" in refused.value.message


@pytest.mark.parametrize(
    "crs",
    [
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4326",
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    ],
)
def test_geojson_that_names_wgs84_is_read(app, crs):
    with app.test_request_context():
        area = parse_aoi(_named(crs, [[1, 43], [1.2, 43], [1.2, 43.1], [1, 43.1], [1, 43]]))
    assert area.bounds == (1, 43, 1.2, 43.1)


@pytest.mark.parametrize("crs", [{"type": "name", "properties": []}, {"type": "link"}, "EPSG:2154"])
def test_a_malformed_crs_member_is_refused_not_a_500(app, crs):
    area = {"type": "Polygon", "coordinates": [SMALL_NUMBERS], "crs": crs}
    with app.test_request_context(), pytest.raises(ServiceError):
        parse_aoi(json.dumps(area))


def test_a_french_reader_is_told_in_french(app):
    with (
        app.test_request_context(headers={"Accept-Language": "fr"}),
        pytest.raises(ServiceError) as refused,
    ):
        parse_aoi(_named("EPSG:2154", SMALL_NUMBERS))
    assert "système de coordonnées EPSG:2154" in refused.value.message


def test_a_small_archive_cut_is_said_with_french_numbers(app, client, cast, archive_scenes):  # noqa: F811
    """'couvre 12.34 km²' in a French sentence: the area was written as Python writes it."""
    login(client, cast.user_a)
    path = "/orders/archive/new?scenes=ARC_1"
    cut = {  # about 2.2 x 2.2 km inside the scene's footprint
        "type": "Polygon",
        "coordinates": [[[2.1, 45.1], [2.128, 45.1], [2.128, 45.12], [2.1, 45.12], [2.1, 45.1]]],
    }
    response = client.post(
        "/orders/archive/new",
        data={
            **form_tokens(client, path),
            "scenes": "ARC_1",
            "aoi": json.dumps(cut),
            "project_title": "Côte",
            "project_description": "Suivi",
            "justification": "Archive",
            "theme": "water",
        },
        headers={"Accept-Language": "fr"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    said = re.search(r"couvre ([\d\s\u202f\xa0.,]+) km²", html)
    assert said, html[-3000:]
    assert "," in said.group(1) and "." not in said.group(1)


@pytest.mark.parametrize("typed", ["NaN, NaN", "3,4,1,2", "1,2,3,1e999", '{"type": "Polygon"}'])
def test_the_alert_form_says_an_area_problem_as_the_catalogue_does(app, client, cast, typed):
    """The alert's area field answered in the API's words ('intersects must be a GeoJSON
    geometry.', 'bbox is out of range or upside down.') where the catalogue's search
    form, for the same typed area, says how to type it."""
    login(client, cast.user_b)  # reads English
    searched = client.get("/catalogue/", query_string={"aoi": typed})
    response = client.post(
        "/alerts/new",
        data={
            **form_tokens(client, "/alerts/new"),
            "name": "Coast",
            "aoi": typed,
            "when": "from_now",
            "frequency": "daily",
            "channel": "email",
        },
    )
    assert response.status_code == 422
    said = _error(response.get_data(as_text=True), "aoi")
    assert said == _error(searched.get_data(as_text=True), "aoi")
    assert "intersects" not in said and "bbox" not in said


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "The geometry's coordinates are malformed."),
        ("fr", "Les coordonnées de la géométrie sont mal formées."),
    ],
)
def test_a_malformed_search_area_is_said_alike_in_both_languages(client, language, said):
    """The API's 'intersects: ' was taken off the English message only (the French one is
    'intersects : '): a French reader got the general message instead of the reason, an
    English one a sentence starting in lower case."""
    response = client.get(
        "/catalogue/",
        query_string={"aoi": '{"type": "Point"}'},
        headers={"Accept-Language": language},
    )
    assert response.status_code == 400
    assert html.unescape(_error(response.get_data(as_text=True), "aoi")) == said
