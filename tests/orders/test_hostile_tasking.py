"""Bad tasking input that was accepted and written: 3-D positions (a 500), an AOI across
the antimeridian stored as a band around the globe, booleans as coordinates, a window in
9999 holding this year's allowance."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyproj import Geod
from shapely.geometry import box
from sqlalchemy import func, select

from dinamis.config import ConfigError, from_env
from dinamis.core.errors import ServiceError
from dinamis.core.geo import geodesic_km2, parse_aoi
from dinamis.extensions import db
from dinamis.orders import service
from dinamis.orders.models import Order
from tests.conftest import login
from tests.helpers import reference_km2
from tests.orders.helpers import TODAY, tasking
from tests.orders.test_web import _form, _orders, _setup

ACROSS = {
    "type": "Polygon",
    "coordinates": [[[179.9, 0], [-179.9, 0], [-179.9, 1], [179.9, 1], [179.9, 0]]],
}


def _km2(*boxes) -> float:
    return sum(abs(Geod(ellps="WGS84").geometry_area_perimeter(b)[0]) for b in boxes) / 1e6


def test_an_aoi_across_the_antimeridian_is_split_there_and_charged_as_stored():
    aoi = parse_aoi(ACROSS)
    assert len(aoi.geoms) == 2
    minx, _miny, maxx, _maxy = aoi.bounds
    assert (minx, maxx) == (-180, 180)
    assert all(p.bounds[2] - p.bounds[0] < 0.2 for p in aoi.geoms)  # two thin slices
    expected = _km2(box(179.9, 0, 180, 1), box(-180, 0, -179.9, 1))
    assert float(geodesic_km2(aoi)) == pytest.approx(expected, abs=0.006)


def test_a_stored_aoi_across_the_antimeridian_has_the_area_that_was_charged(app, client, cast):
    _setup(app, cast, allowance="100000")
    login(client, cast.user_a)
    response = client.post("/orders/tasking/new", data=_form(client, aoi=json.dumps(ACROSS)))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    (order,) = _orders(app)
    with app.app_context():
        stored_km2 = db.session.scalar(
            select(func.ST_Area(func.geography(Order.aoi)) / 1e6).where(Order.id == order.id)
        )
        width = db.session.scalar(
            select(func.ST_XMax(Order.aoi) - func.ST_XMin(Order.aoi)).where(Order.id == order.id)
        )
    assert float(order.aoi_km2) == pytest.approx(stored_km2, rel=1e-3)
    assert float(order.aoi_km2) < 3000  # not a band around the globe
    assert width == 360  # two slices, at -180 and at 180


@pytest.mark.parametrize(
    "ring",
    [
        [[-120, 0], [0, 0], [120, 0], [120, 10], [0, 10], [-120, 10], [-120, 0]],
        [[-170, 0], [0, 0], [170, 0], [170, 10], [0, 10], [-170, 10], [-170, 0]],
    ],
)
def test_a_ring_going_the_long_way_round_is_refused_with_a_message(app, ring):
    with (
        app.test_request_context(headers={"Accept-Language": "en"}),
        pytest.raises(ServiceError) as refused,
    ):
        parse_aoi({"type": "Polygon", "coordinates": [ring]})
    assert "more than 180° of longitude" in refused.value.message


def test_3d_positions_are_accepted_and_their_height_dropped(app, client, cast):
    flat = [[2, 45], [2.2, 45], [2.2, 45.2], [2, 45.2], [2, 45]]
    heights = [[x, y, 100 + n] for n, (x, y) in enumerate(flat)]
    aoi = parse_aoi({"type": "Polygon", "coordinates": [heights]})
    assert not aoi.has_z
    assert aoi.equals(parse_aoi({"type": "Polygon", "coordinates": [flat]}))
    _setup(app, cast)
    login(client, cast.user_a)
    geometry = {"type": "MultiPolygon", "coordinates": [[heights]]}
    response = client.post("/orders/tasking/new", data=_form(client, aoi=json.dumps(geometry)))
    assert response.status_code == 302
    (order,) = _orders(app)
    assert order.aoi_km2 == reference_km2(aoi)


def test_booleans_are_not_coordinates(app):
    ring = [[True, 45], [2.2, 45], [2.2, 45.2], [2, 45.2], [True, 45]]
    with (
        app.test_request_context(headers={"Accept-Language": "en"}),
        pytest.raises(ServiceError) as refused,
    ):
        parse_aoi({"type": "Polygon", "coordinates": [ring]})
    assert "not true or false" in refused.value.message


def test_the_window_starts_within_the_horizon(app):
    with app.app_context():
        with pytest.raises(ServiceError) as refused:
            service.check_tasking(
                tasking(window_start=dt.date(9999, 12, 1), window_end=dt.date(9999, 12, 30)),
                TODAY,
            )
        assert "window_start" in refused.value.fields
        # 365 days after TODAY, written as the reader writes dates (French by default)
        assert "29 févr. 2028" in refused.value.fields["window_start"]
        last = TODAY + dt.timedelta(days=365)
        service.check_tasking(
            tasking(window_start=last, window_end=last + dt.timedelta(days=30)), TODAY
        )


def test_a_window_in_9999_comes_back_on_the_form_and_reserves_nothing(app, client, cast):
    _setup(app, cast)
    login(client, cast.user_a)
    response = client.post(
        "/orders/tasking/new",
        data=_form(client, window_start="9999-12-01", window_end="9999-12-30"),
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert "au plus tard" in response.get_data(as_text=True)  # user_a reads French
    assert _orders(app) == []


def test_the_horizon_is_configured():
    assert from_env({}).orders.window_horizon_days == 365
    assert from_env({"DINAMIS_ORDERS_WINDOW_HORIZON_DAYS": "90"}).orders.window_horizon_days == 90
    with pytest.raises(ConfigError):
        from_env({"DINAMIS_ORDERS_WINDOW_HORIZON_DAYS": "2"}).validate()  # within the lead time


def test_a_polygon_reaching_both_minus_180_and_180_is_read_as_drawn():
    world = [[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]
    assert parse_aoi({"type": "Polygon", "coordinates": [world]}).bounds == (-180, -90, 180, 90)
