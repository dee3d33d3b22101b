"""Shared helpers for order tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from shapely.geometry import MultiPolygon, box

from dinamis.orders.service import TaskingRequest

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
