"""Calendar days for the scheme's rules: one notion of "today", one way to add years.

Timestamps are stored in UTC; days (deadlines, windows, membership ends, periods)
are the scheme's, in its time zone (`DINAMIS_TIMEZONE`, Europe/Paris by default),
whatever the server's own zone is. Between 22:00 and 24:00 UTC in summer it is
already tomorrow in Paris, and a window starting "in 3 days" counts from there.

Also the one reader of RFC 3339 date-times (`instant`): the STAC `datetime`, the
page tokens, and CQL2's TIMESTAMP (through its looser pattern).
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from flask import has_app_context

from dinamis import config

DEFAULT_TIMEZONE = "Europe/Paris"


def timezone() -> ZoneInfo:
    """The scheme's time zone (the configured one inside the application)."""
    name = DEFAULT_TIMEZONE
    if has_app_context():
        name = config.current().timezone
    return ZoneInfo(name)


def now() -> dt.datetime:
    """This instant, aware, in the scheme's time zone."""
    return dt.datetime.now(dt.UTC).astimezone(timezone())


def today() -> dt.date:
    """Today's date in the scheme's time zone: the day every deadline counts from."""
    return now().date()


def utc_today() -> dt.date:
    """Today as the catalogue's dates count it: a search's dates are UTC days (the STAC
    `datetime` they become starts at `T00:00:00Z`), not the scheme's days. Between 23:00
    and 24:00 UTC (22:00 in summer) the scheme's today is already the next UTC day."""
    return dt.datetime.now(dt.UTC).date()


def local_day(moment: dt.datetime) -> dt.date:
    """The scheme's calendar day of a stored instant (naive values are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(timezone()).date()


def add_years(day: dt.date, years: int) -> dt.date:
    """The same day `years` later (or earlier); 29 February becomes 1 March when that
    year has none, so that a span starting on 29 February lasts whole years."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return dt.date(day.year + years, 3, 1)


def span_end(start: dt.date, years: int) -> dt.date:
    """The last day of a span of `years` years starting on `start` (the day before its
    anniversary): from 2025-03-01, 3 years end on 2028-02-29; from 2028-02-29, on 2031-02-28."""
    return add_years(start, years) - dt.timedelta(days=1)


# RFC 3339 `date-time`, and nothing looser: a date alone, a missing offset, a comma
# for the decimal point or an offset without its colon are refused (STAC API).
RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def instant(text: str, pattern: re.Pattern[str] = RFC3339) -> dt.datetime:
    """The aware date-time `text` writes in RFC 3339 (`T` or `t`, `Z` or `z`), or in
    a looser `pattern` of the same eleven groups (no offset: UTC). A leap second is
    the last instant of its minute. ValueError for anything else."""
    match = pattern.fullmatch(text)
    if match is None:
        raise ValueError(text)
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction, _utc, sign, offset_hours, offset_minutes = match.group(7, 8, 9, 10, 11)
    zone: dt.tzinfo = dt.UTC
    if sign:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise ValueError(text)
        offset = dt.timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        zone = dt.timezone(-offset if sign == "-" else offset)
    microsecond = int((fraction or "").ljust(6, "0")[:6])
    leap = second == 60
    moment = dt.datetime(
        year, month, day, hour, minute, 59 if leap else second, microsecond, tzinfo=zone
    )
    return moment.replace(microsecond=999_999) if leap else moment
