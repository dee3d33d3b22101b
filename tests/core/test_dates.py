"""One notion of today (the scheme's zone) and one way to add years, leap days included."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest

from dinamis.config import ConfigError, Settings
from dinamis.core import dates

D = dt.date


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        (D(2025, 3, 1), 3, D(2028, 3, 1)),
        (D(2028, 2, 29), 3, D(2031, 3, 1)),
        (D(2028, 2, 29), 4, D(2032, 2, 29)),
        (D(2028, 2, 29), -1, D(2027, 3, 1)),
        (D(2027, 2, 28), 1, D(2028, 2, 28)),
        (D(2027, 12, 31), 1, D(2028, 12, 31)),
    ],
)
def test_add_years(day, years, expected):
    assert dates.add_years(day, years) == expected


@pytest.mark.parametrize(
    ("start", "years", "last"),
    [
        (D(2025, 3, 1), 3, D(2028, 2, 29)),
        (D(2028, 2, 29), 3, D(2031, 2, 28)),
        (D(2028, 3, 1), 3, D(2031, 2, 28)),
        (D(2028, 2, 28), 1, D(2029, 2, 27)),
        (D(2031, 3, 1), 3, D(2034, 2, 28)),
        (D(2026, 1, 1), 3, D(2028, 12, 31)),
    ],
)
def test_span_end_is_the_day_before_the_anniversary(start, years, last):
    assert dates.span_end(start, years) == last


def test_today_is_the_schemes_day_not_the_servers(app):
    late_summer_evening = dt.datetime(2026, 7, 1, 22, 30, tzinfo=dt.UTC)
    with app.app_context():
        assert dates.local_day(late_summer_evening) == D(2026, 7, 2)  # Paris: 00:30
        assert dates.local_day(late_summer_evening.replace(tzinfo=None)) == D(2026, 7, 2)
        assert dates.today() == dates.local_day(dt.datetime.now(dt.UTC))
        settings = app.config["DINAMIS_SETTINGS"]
        app.config["DINAMIS_SETTINGS"] = dataclasses.replace(settings, timezone="UTC")
        try:
            assert dates.local_day(late_summer_evening) == D(2026, 7, 1)
        finally:
            app.config["DINAMIS_SETTINGS"] = settings


def test_a_wrong_time_zone_is_refused():
    with pytest.raises(ConfigError, match="DINAMIS_TIMEZONE"):
        Settings(timezone="Mars/Olympus").validate()


def test_no_code_asks_the_servers_zone_for_today():
    root = Path(__file__).resolve().parents[2] / "dinamis"
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for path in root.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(
            r"date\.today\(\)|datetime\.now\(\)|datetime\.today\(\)|utcnow\(\)\.date\(\)|fromtimestamp\(\w+\)",
            line,
        )
        and path.name != "dates.py"
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-04T10:20:30Z", dt.datetime(2024, 5, 4, 10, 20, 30, tzinfo=dt.UTC)),
        ("2024-05-04t10:20:30.5z", dt.datetime(2024, 5, 4, 10, 20, 30, 500_000, tzinfo=dt.UTC)),
        (
            "2024-05-04T10:20:30-02:30",
            dt.datetime(2024, 5, 4, 12, 50, 30, tzinfo=dt.UTC),
        ),
        # A leap second is the last instant of its minute.
        ("2016-12-31T23:59:60Z", dt.datetime(2016, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC)),
    ],
)
def test_an_rfc3339_instant(text, expected):
    assert dates.instant(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-04",
        "2024-05-04T10:20:30",
        "2024-05-04 10:20:30Z",
        "2024-05-04T10:20:30+0200",
        "2024-05-04T10:20:30+24:00",
        "2024-05-04T10:20:30+00:60",
        "2024-02-30T10:20:30Z",
    ],
)
def test_what_rfc3339_refuses(text):
    with pytest.raises(ValueError):
        dates.instant(text)


def test_a_looser_pattern_reads_the_same_way():
    """CQL2's TIMESTAMP (catalogue.cql2): basic form, a space, no offset (UTC)."""
    from dinamis.catalogue.cql2 import _TIMESTAMP

    utc = dt.datetime(2024, 5, 4, 10, 20, 30, tzinfo=dt.UTC)
    assert dates.instant("20240504T102030", _TIMESTAMP) == utc
    assert dates.instant("2024-05-04 10:20:30", _TIMESTAMP) == utc
    assert dates.instant("2024-05-04T12:20:30+0200", _TIMESTAMP) == utc
    with pytest.raises(ValueError):
        dates.instant("2024-05-04T10:20:30+00:75", _TIMESTAMP)
