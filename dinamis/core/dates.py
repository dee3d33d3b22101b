"""Calendar days for the scheme's rules: one notion of "today", one way to add years.

Timestamps are stored in UTC; days (deadlines, windows, membership ends, periods)
are the scheme's, in its time zone (`DINAMIS_TIMEZONE`, Europe/Paris by default),
whatever the server's own zone is. Between 22:00 and 24:00 UTC in summer it is
already tomorrow in Paris, and a window starting "in 3 days" counts from there.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_TIMEZONE = "Europe/Paris"


def timezone() -> ZoneInfo:
    """The scheme's time zone (the configured one inside the application)."""
    name = DEFAULT_TIMEZONE
    if has_app_context():
        name = current_app.config["DINAMIS_SETTINGS"].timezone
    return ZoneInfo(name)


def now() -> dt.datetime:
    """This instant, aware, in the scheme's time zone."""
    return dt.datetime.now(dt.UTC).astimezone(timezone())


def today() -> dt.date:
    """Today's date in the scheme's time zone: the day every deadline counts from."""
    return now().date()


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
