"""Helpers for driving the app through its real forms."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from flask.testing import FlaskClient
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on `path` (and the session cookie it binds to)."""
    html = client.get(path).get_data(as_text=True)
    match = _CSRF.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def outbox(app, to: str | None = None) -> list:
    """The messages in the outbox, newest last."""
    from sqlalchemy import select

    from dinamis.core.mail import OutboxMessage
    from dinamis.extensions import db

    with app.app_context():
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if to:
            query = query.where(OutboxMessage.to_address == to)
        messages = list(db.session.scalars(query))
        for message in messages:
            _ = message.attachments  # loaded now, usable after the context ends
        db.session.expunge_all()
        return messages


_ONCE = re.compile(r'name="once" (?:type="hidden" )?value="([^"]+)"')


def form_tokens(client: FlaskClient, path: str) -> dict[str, str]:
    """The CSRF token and the one-time token of the form on `path` (as a browser sends them)."""
    html = client.get(path).get_data(as_text=True)
    csrf, once = _CSRF.search(html), _ONCE.search(html)
    assert csrf and once, f"no CSRF or one-time token on {path}"
    return {"csrf_token": csrf.group(1), "once": once.group(1)}


def written(app, value, language: str = "fr", words: bool = False) -> str:
    """A number or a date as the pages write it in `language` (issue 14, item 12);
    `words`: its spaces as plain spaces, as a PDF's extracted text has them."""
    from flask_babel import force_locale

    from dinamis.core.formats import localise

    with app.app_context(), force_locale(language):
        text = str(localise(value))
    return " ".join(text.split()) if words else text


WGS84 = Geod(ellps="WGS84")


def reference_km2(geometry: Polygon | MultiPolygon) -> Decimal:
    """The geodesic area on WGS84 in km² to 0.01, computed here from the coordinates with
    pyproj (exterior rings less holes): the expected value of a test, independent of
    dinamis.core.geo.geodesic_km2, which the code under test calls."""
    polygons = geometry.geoms if isinstance(geometry, MultiPolygon) else [geometry]
    m2 = 0.0
    for polygon in polygons:
        for sign, ring in [(1, polygon.exterior), *((-1, hole) for hole in polygon.interiors)]:
            lons, lats = ring.coords.xy
            area, _perimeter = WGS84.polygon_area_perimeter(list(lons), list(lats))
            m2 += sign * abs(area)
    return (Decimal(m2) / Decimal(1_000_000)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
