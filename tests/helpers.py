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


def check_steps_told_migration(
    scratch,
    before: str,
    after: str,
    *,
    table: str,
    parent: tuple[str, int],
    steps: list[tuple[str | None, str, str]],
    later: tuple[str, str],
) -> None:
    """A `told_at` migration of a steps table (0039 orders, 0040 surface models), from a
    scratch database at `before` holding the parent row: the `steps` (from, to, when)
    written as the application wrote them then come up told at their own time; a `later`
    step is untold and found by the partial index's condition; going down drops the mark
    and keeps the steps; up again, every step there was is told (none is mailed twice)."""
    from alembic import command
    from sqlalchemy import text

    config, engine = scratch
    column, parent_id = parent

    def columns(connection) -> set[str]:
        return set(
            connection.scalars(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
                {"t": table},
            )
        )

    def insert(connection, old: str | None, new: str, at: str | None = None) -> None:
        connection.execute(
            text(
                f"INSERT INTO {table} ({column}, from_status, to_status, created_at) "
                "VALUES (:parent, :old, :new, coalesce(CAST(:at AS timestamptz), now()))"
            ),
            {"parent": parent_id, "old": old, "new": new, "at": at},
        )

    with engine.begin() as connection:
        for old, new, at in steps:
            insert(connection, old, new, at)
    command.upgrade(config, after)
    with engine.begin() as connection:
        rows = connection.execute(text(f"SELECT told_at = created_at FROM {table} ORDER BY id"))
        assert list(rows.scalars()) == [True] * len(steps)
        insert(connection, *later)
        untold = connection.execute(text(f"SELECT to_status FROM {table} WHERE told_at IS NULL"))
        assert list(untold.scalars()) == [later[1]]
        index = connection.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :i"),
            {"i": f"ix_{table}_untold"},
        )
        assert index is not None and "WHERE (told_at IS NULL)" in index
    command.downgrade(config, before)
    with engine.begin() as connection:
        assert "told_at" not in columns(connection)
        assert connection.scalar(text(f"SELECT count(*) FROM {table}")) == len(steps) + 1
    command.upgrade(config, after)
    with engine.begin() as connection:
        assert "told_at" in columns(connection)
        assert connection.scalar(text(f"SELECT count(*) FROM {table} WHERE told_at IS NULL")) == 0
