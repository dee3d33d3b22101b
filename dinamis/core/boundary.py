"""What every request must satisfy before a view reads it, checked once for the app.

- Ids in paths fit PostgreSQL's `integer`: a larger `<int:...>` does not match
  the route (404) instead of reaching the database (a 500 "integer out of range").
- No NUL character in the path, the query, a form field, a file name or a JSON
  string: PostgreSQL cannot store it, so it is refused up front with a 400 in
  the user's language (JSON for the API, the styled page for the portal).
- JSON from outside (request bodies, pasted or uploaded GeoJSON, STAC
  `intersects`) is read by `parse_json`, which bounds its nesting: a body
  nested thousands deep is a 400, not a RecursionError.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

from dinamis.core.db import json_loads
from dinamis.core.errors import MalformedInput

PG_INTEGER_MAX = 2**31 - 1
MAX_JSON_DEPTH = 64


# The numbers 0 to 2147483647 (leading zeros allowed), as a pattern: a larger id must not
# match the path at all. Werkzeug checks `max` only after matching, and a path that
# matched one method's rule but failed its check answered 405 (naming the path's other
# methods) instead of 404 for PATCH or DELETE.
PG_INTEGER_PATTERN = (
    r"0*(?:214748364[0-7]|21474836[0-3]\d|2147483[0-5]\d{2}|214748[0-2]\d{3}"
    r"|21474[0-7]\d{4}|2147[0-3]\d{5}|214[0-6]\d{6}|21[0-3]\d{7}|20\d{8}|1\d{9}|\d{1,9})"
)


class DatabaseIntConverter(IntegerConverter):
    """`<int:...>` within PostgreSQL's `integer` (1 to 2³¹-1 unless the rule says otherwise)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", PG_INTEGER_MAX)
        super().__init__(map, *args, **kwargs)
        if self.max == PG_INTEGER_MAX and not self.signed and not self.fixed_digits:
            self.regex = PG_INTEGER_PATTERN


class NulCharacter(MalformedInput, code="nul_character"):
    """A NUL character, which PostgreSQL's text cannot hold."""


class TooDeep(MalformedInput, code="too_deep"):
    """JSON nested deeper than the reader goes."""


def _refuse_nul() -> None:
    raise NulCharacter(_("The request contains a NUL character, which is not allowed."))


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_QUOTE = ord('"')
_STEP = np.zeros(256, dtype=np.int8)  # +1 for an opening bracket, -1 for a closing one
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings not counted)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return raw.count(b"[") + raw.count(b"{")  # an upper bound, within the limit
    if b"\\" in raw:  # escapes: a quote may not end a string, let the regex find strings
        codes = np.frombuffer(_STRING.sub(b"", raw), dtype=np.uint8)
        steps = _STEP[codes]
    else:  # no escapes (the usual GeoJSON): strings lie between every other quote
        codes = np.frombuffer(raw, dtype=np.uint8)
        inside = np.cumsum(codes == _QUOTE, dtype=np.int32) & 1
        steps = _STEP[codes] * (1 - inside).astype(np.int8)
    return int(np.cumsum(steps, dtype=np.int32).max()) if steps.size else 0


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_json(data: bytes | str) -> Any:
    """JSON from outside: nesting at most MAX_JSON_DEPTH, no NUL in any string.

    Raises ValueError (json.JSONDecodeError) for text that is not JSON, TooDeep
    or NulCharacter (400s with a message) for JSON this app refuses to read.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise TooDeep(_("The JSON is nested more than %(n)d levels deep.", n=MAX_JSON_DEPTH))
    value = json_loads(raw)
    if b"\\u0000" in raw and _has_nul(value):
        _refuse_nul()
    return value


class BoundedJSONProvider(DefaultJSONProvider):
    """Request bodies (`request.get_json()`) are read by `parse_json`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse_json(s)


def _check_request() -> None:
    if "\x00" in request.path:
        _refuse_nul()
    for key, value in request.args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            _refuse_nul()
    if request.is_json:
        # A JSON body has no form fields nor files (Werkzeug parses only form bodies, and
        # reading them cost an API request ~1 % of an order submission's instructions).
        if request.content_length:
            request.get_json(silent=True)  # parse_json refuses NUL and deep nesting
        return
    for key, value in request.form.items(multi=True):
        if "\x00" in key or "\x00" in value:
            _refuse_nul()
    for key, upload in request.files.items(multi=True):
        if "\x00" in key or "\x00" in (upload.filename or ""):
            _refuse_nul()


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = DatabaseIntConverter
    app.json = BoundedJSONProvider(app)
    # First of all before-request work: nothing else reads a refused request.
    app.before_request_funcs.setdefault(None, []).insert(0, _check_request)
