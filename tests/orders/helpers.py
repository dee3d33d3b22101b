"""Shared helpers for order tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from shapely.geometry import MultiPolygon, box

from dinamis.catalogue.models import Collection, Scene
from dinamis.extensions import db
from dinamis.orders.service import TaskingRequest
from tests.factories import make_collection, make_scene

TODAY = dt.date(2027, 3, 1)


def square(side_deg: float, lon: float = 2.0, lat: float = 45.0) -> MultiPolygon:
    return MultiPolygon([box(lon, lat, lon + side_deg, lat + side_deg)])


def tasking(side_deg: float = 0.15, **changes: object) -> TaskingRequest:
    values: dict[str, object] = {
        "aoi": square(side_deg),
        "sensor": "pleiades",
        "window_start": TODAY + dt.timedelta(days=10),
        "window_end": TODAY + dt.timedelta(days=70),
        "max_cloud_cover": 20,
        "max_incidence": 30,
        "mode": "mono",
        "spectral_mode": "pms",
        "project_title": "Coastline change",
        "project_description": "Erosion monitoring of the Atlantic coast.",
        "justification": "No archive image after the winter storms.",
        "theme": "coast",
    }
    values.update(changes)
    return TaskingRequest(**values)  # type: ignore[arg-type]


D = Decimal


def acquired(sid: str, footprint: object, day: dt.date, **kw: object) -> Scene:
    """A Pléiades scene of the catalogue acquired on `day` (collection made on first use)."""
    if db.session.get(Collection, "pleiades-test") is None:
        make_collection("pleiades-test", sensor_family="pleiades")
    when = dt.datetime.combine(day, dt.time(10, 30), tzinfo=dt.UTC)
    return make_scene(sid, footprint, when, **kw)  # type: ignore[arg-type]
