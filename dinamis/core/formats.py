"""Numbers and dates in the reader's locale (Babel through Flask-Babel).

One place decides how a value reads: the pages, the e-mails and the PDFs show
"37,05 km²" and "8 déc. 2026" in French, "37.05 km²" and "Dec 8, 2026" in
English. A Decimal keeps its stated places (euros keep their cents). Machine
formats (CSV, JSON, STAC, form inputs) do not come through here.

In templates this is automatic: every `{{ value }}` that is a Decimal or a
date is localised (`finalize`), and so is every such value given to `_()` for
a `%(name)s` placeholder; a value written into an HTML attribute for the
browser (a meter's max) is given as `|string`. Python code that puts a number or a date
into a message calls `number()` or `day()`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from babel import Locale
from flask import Flask
from flask_babel import (
    format_date,
    format_datetime,
    format_decimal,
    format_percent,
    format_time,
    get_locale,
    to_user_timezone,
)
from jinja2 import pass_context
from jinja2.runtime import Context

# A placeholder given as a string (%(name)s), the only kind a formatted value may fill.
_STRING_PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?s")


def number(value: Decimal | float | int, places: int | None = None) -> str:
    """A number in the locale; a Decimal keeps its own places unless `places` is given."""
    if isinstance(value, Decimal) and places is None:
        exponent = value.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if places is None:
        return format_decimal(value)
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_decimal(value, format=pattern)


def roughly(value: int) -> str:
    """An estimated count to two significant figures: 12,345 reads "12,000" ("12 000")."""
    if value >= 100:
        magnitude = 10 ** (len(str(int(value))) - 2)
        value = round(value / magnitude) * magnitude
    return format_decimal(int(value))


def millions(value: int) -> str:
    """An estimated count in millions, to one decimal: 1,234,567 reads "1.2" ("1,2")."""
    return format_decimal(round(value / 1_000_000, 1), format="#,##0.#")


def percent(value: Decimal | float | int, places: int = 1) -> str:
    """`value` per cent (14.9 is 14.9 %), in the locale's way of writing a percentage."""
    pattern = "#,##0" + ("." + "#" * places if places else "") + "%"
    return format_percent(Decimal(str(value)) / 100, format=pattern)


def day(value: dt.date | dt.datetime, style: str = "medium") -> str:
    """A calendar day, "8 déc. 2026" / "8 Dec 2026"."""
    if isinstance(value, dt.datetime):
        value = value.date()
    return format_date(value, style)


def moment(value: dt.datetime, style: str = "medium") -> str:
    """A day and its time to the minute, in the reader's time zone: "5 déc. 2026 20:21",
    "Dec 5, 2026, 8:21 PM" (the day written as `day` writes it, never 12/5/26).

    `style` "seconds" adds the seconds (a certificate's proof of time); "full" and
    "long" keep Babel's own forms.
    """
    if style in ("full", "long"):
        return format_datetime(value, style)
    if style == "seconds":
        return format_datetime(value, "medium")
    locale = get_locale() or Locale.parse("en")
    pattern = locale.datetime_formats["medium"]  # how the locale joins them: "{1}, {0}"
    when = to_user_timezone(value) if value.tzinfo else value
    return str(pattern).format(format_time(when, "short"), format_date(when, "medium"))


def localise(value: Any) -> Any:
    """A Decimal or a date as the reader writes it; anything else unchanged.

    Floats are left alone: in templates they are drawing coordinates (SVG
    widths, map paths), not figures for people; areas, money and percentages
    are Decimals.
    """
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, dt.datetime):
        return moment(value)
    if isinstance(value, dt.date):
        return day(value)
    return value


def localise_variables(message: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The variables of a message, those filling a %(name)s placeholder localised."""
    names = set(_STRING_PLACEHOLDER.findall(message))
    return {k: localise(v) if k in names else v for k, v in variables.items()}


def _wrap(original: Callable[..., Any], message_at: int) -> Callable[..., Any]:
    @pass_context
    def call(context: Context, *args: Any, **variables: Any) -> Any:
        message = str(args[message_at]) if len(args) > message_at else ""
        return original(context, *args, **localise_variables(message, variables))

    return call


def localise_gettext(globals_: dict[str, Any]) -> None:
    """An environment's gettext functions made to localise the values they are given."""
    positions = {"gettext": 0, "_": 0, "ngettext": 0, "pgettext": 1, "npgettext": 1}
    for name, at in positions.items():
        original = globals_.get(name)
        if callable(original):
            globals_[name] = _wrap(original, at)


def init_app(app: Flask) -> None:
    """Localise the values templates print, and those they give to gettext."""
    env = app.jinja_env
    env.finalize = localise
    localise_gettext(env.globals)
    env.filters.update({f.__name__: f for f in (number, percent, day, roughly, millions)})
    # Flask-Babel's datetimeformat("short") wrote 12/5/26, 8:21 PM beside dates written in full.
    env.filters["datetimeformat"] = moment
