"""CQL2 filters (text and JSON) on the scene queryables, through pygeofilter.

pygeofilter parses and turns the tree into SQLAlchemy expressions; before
that, the tree is checked here against the queryables so that a mistake
(an unknown property, a word compared with a number, a LIKE on an angle)
gets a message that says what is wrong instead of a database error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import re
from typing import Any

import shapely
from flask_babel import gettext as _
from geoalchemy2 import Geometry
from lark import Lark
from lark.exceptions import LarkError
from pygeofilter import ast, values
from pygeofilter.backends.evaluator import handle
from pygeofilter.backends.sqlalchemy import filters
from pygeofilter.backends.sqlalchemy.evaluate import SQLAlchemyFilterEvaluator
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parser as cql2_text_parser
from pygeofilter.parsers.cql2_text.parser import CQLTransformer
from sqlalchemy import ColumnElement, and_, cast, null
from sqlalchemy.sql.elements import Null

from dinamis.catalogue.queryables import QUERYABLES, lookup
from dinamis.core.dates import instant
from dinamis.core.errors import BadRequest

LANGUAGES = ("cql2-text", "cql2-json")
# The work a filter may ask for, bounded so that a bad filter costs about what a
# good one does (a few milliseconds): its length, how deep it nests (parentheses,
# JSON), and how many terms it has once parsed.
MAX_TEXT = 10_000
MAX_DEPTH = 32
MAX_NODES = 2_000


class _Transformer(CQLTransformer):
    """pygeofilter's CQL2-text transformer, reading TIMESTAMP and DATE strictly and cheaply
    (pygeofilter's reading guesses formats with dateparser: ~6 ms a timestamp)."""

    def DATETIME(self, token: Any) -> dt.datetime:
        return _timestamp(str(token))

    def DATE(self, token: Any) -> dt.date:
        return _date(str(token))


@functools.cache
def _text_parser() -> Lark:
    """pygeofilter's CQL2-text grammar, without lark's debug mode.

    pygeofilter builds its parser with debug=True: any error while a literal is
    read (an invalid TIMESTAMP) then prints the parser's whole state stack,
    which costs 0.2 to 7 s of CPU per request.
    """
    return Lark.open(
        "grammar.lark",
        rel_to=cql2_text_parser.__file__,
        parser="lalr",
        debug=False,
        maybe_placeholders=False,
        transformer=_Transformer(),
        import_paths=[os.path.dirname(os.path.dirname(cql2_text_parser.__file__))],
    )


# CQL2 timestamps and dates (RFC 3339); the grammar also lets the basic ISO form through
# (no separators), a space for the `T`, and no offset (UTC).
_TIMESTAMP = re.compile(
    r"(\d{4})-?(\d{2})-?(\d{2})[Tt ](\d{2}):?(\d{2}):?(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?",
    re.ASCII,
)
_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})", re.ASCII)


def _timestamp(text: str) -> dt.datetime:
    """A CQL2 TIMESTAMP, read as the STAC `datetime` is (core.dates.instant); ValueError else."""
    return instant(text, _TIMESTAMP)


def _date(text: str) -> dt.date:
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError(text)
    return dt.date(*(int(part) for part in match.groups()))


def _too_complex() -> BadRequest:
    return BadRequest(
        _(
            "The filter is too complex: at most %(depth)d levels of nesting and %(nodes)d terms.",
            depth=MAX_DEPTH,
            nodes=MAX_NODES,
        )
    )


def _text_depth(text: str) -> int:
    """How deep the parentheses of a CQL2 text go (quoted text aside)."""
    depth = deepest = 0
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest


def _json_literals(root: Any) -> Any:
    """A CQL2-JSON filter checked for size and nesting, without recursion, its
    timestamps, dates and intervals read here (strictly; see _Transformer)."""
    if not isinstance(root, dict):
        raise BadRequest(_("A CQL2-JSON filter must be a JSON object."))
    nodes = 0
    pending: list[tuple[Any, int]] = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        nodes += 1
        if depth > MAX_DEPTH * 2 or nodes > MAX_NODES * 4:  # an object and its args list a level
            raise _too_complex()
        if isinstance(node, dict):
            pending.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            pending.extend((value, depth + 1) for value in node)
    return _convert_literals(root)


def _convert_literals(node: Any) -> Any:
    """{"timestamp": …}, {"date": …} and {"interval": […]} as Python values (depth bounded)."""
    if isinstance(node, list):
        return [_convert_literals(value) for value in node]
    if not isinstance(node, dict):
        return node
    try:
        if set(node) == {"timestamp"} and isinstance(node["timestamp"], str):
            return _timestamp(node["timestamp"])
        if set(node) == {"date"} and isinstance(node["date"], str):
            return _date(node["date"])
        if set(node) == {"interval"} and isinstance(node["interval"], list):
            ends = node["interval"]
            if len(ends) != 2 or not all(isinstance(end, str) for end in ends):
                raise ValueError(ends)
            start, end = (
                None if end == ".." else _date(end) if len(end) <= 10 else _timestamp(end)
                for end in ends
            )
            return values.Interval(start, end)
    except ValueError as exc:
        raise BadRequest(
            _("The filter has an invalid date or time: %(v)s", v=str(exc)[:60])
        ) from None
    return {key: _convert_literals(value) for key, value in node.items()}


def _tree(raw: Any, language: str) -> Any:
    """The filter's pygeofilter tree, its size and nesting bounded; BadRequest if unreadable."""
    if language == "cql2-text":
        if not isinstance(raw, str):
            raise BadRequest(_("A CQL2-text filter must be a string."))
        if len(raw) > MAX_TEXT:
            raise BadRequest(_("The filter is too long."))
        if _text_depth(raw) > MAX_DEPTH:
            raise _too_complex()
        try:
            return _text_parser().parse(raw)
        except ValueError as exc:  # from _timestamp or _date: an impossible date or time
            raise BadRequest(
                _("The filter has an invalid date or time: %(v)s", v=str(exc)[:60])
            ) from None
        except LarkError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise BadRequest(_("The filter is not valid CQL2 text: %(e)s", e=first[:200])) from None
    if isinstance(raw, str):
        if len(raw) > MAX_TEXT:
            raise BadRequest(_("The filter is too long."))
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            raise BadRequest(_("The filter is not valid JSON.")) from None
    return parse_json(_json_literals(raw))


def _geometry(operand: Any) -> Any:
    """An unknown property (null) as a null geometry, so that spatial functions apply."""
    return cast(null(), Geometry("GEOMETRY", srid=4326)) if isinstance(operand, Null) else operand


class _Evaluator(SQLAlchemyFilterEvaluator):
    """pygeofilter's evaluator, with the temporal predicates STAC clients send.

    An instant or an interval with open ends ('..') compared with the
    acquisition time: intersects/during/equals keep the scenes inside, before
    and after compare with the start or the end.
    """

    @handle(ast.SpatialComparisonPredicate, subclasses=True)
    def spatial_operation(self, node: Any, lhs: Any, rhs: Any) -> Any:
        return filters.spatial(_geometry(lhs), rhs, node.op.name)

    @handle(ast.BBox)
    def bbox(self, node: Any, lhs: Any) -> Any:
        return filters.bbox(_geometry(lhs), node.minx, node.miny, node.maxx, node.maxy, node.crs)

    @handle(ast.TemporalPredicate, subclasses=True)
    def temporal(self, node: Any, lhs: Any, rhs: Any) -> Any:
        start, end = (rhs, rhs) if not isinstance(rhs, tuple) else rhs
        op = type(node).__name__
        if op == "TimeBefore":
            return lhs < start if start is not None else lhs.is_not(None)
        if op == "TimeAfter":
            return lhs > end if end is not None else lhs.is_not(None)
        clauses = []
        if start is not None:
            clauses.append(lhs >= start)
        if end is not None:
            clauses.append(lhs <= end)
        return and_(*clauses) if clauses else lhs.is_not(None)


def parse(raw: Any, language: str | None) -> ColumnElement[bool]:
    """A CQL2 filter as a SQLAlchemy condition on scenes, or BadRequest saying why not."""
    if language is None:
        language = "cql2-text" if isinstance(raw, str) else "cql2-json"
    if language not in LANGUAGES:
        raise BadRequest(
            _("filter-lang must be cql2-text or cql2-json, not %(v)s.", v=str(language)[:40])
        )
    try:
        tree = _tree(raw, language)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise BadRequest(
            _("The filter is not valid %(lang)s: %(e)s", lang=language, e=str(exc)[:200])
        ) from None
    _bound(tree)
    tree = _rewrite(tree)
    _check(tree)
    mapping = {name: q.column for name, q in QUERYABLES.items()}
    mapping.update({f"properties.{name}": q.column for name, q in QUERYABLES.items()})
    try:
        # Unknown properties are null (the queryables allow other properties): see _check.
        return _Evaluator(mapping, True).evaluate(tree)  # type: ignore[no-any-return]
    # pygeofilter's evaluator raises NotImplementedError for an operator it has no SQL for.
    except (KeyError, TypeError, ValueError, AttributeError, NotImplementedError) as exc:
        raise BadRequest(
            _("Dinamis cannot apply this filter: %(e)s", e=str(exc)[:200] or type(exc).__name__)
        ) from None


def _chain(node: Any) -> list[Any]:
    """The operands of a chain of one And or Or (a AND b AND c), left to right."""
    kind = type(node)
    operands: list[Any] = []
    pending = [node]
    while pending:
        current = pending.pop()
        if type(current) is kind:
            pending.extend((current.rhs, current.lhs))
        else:
            operands.append(current)
    return operands


def _bound(tree: Any) -> None:
    """At most MAX_NODES terms and MAX_DEPTH levels (a chain of AND or OR is one level:
    it is balanced by _rewrite), measured without recursion."""
    nodes = 0
    pending: list[tuple[Any, int]] = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        nodes += 1
        if nodes > MAX_NODES or depth > MAX_DEPTH:
            raise _too_complex()
        if isinstance(node, ast.Combination):
            pending.extend((operand, depth + 1) for operand in _chain(node))
        elif isinstance(node, ast.Node):
            pending.extend((child, depth + 1) for child in node.get_sub_nodes())


def _balanced(kind: type[Any], operands: list[Any]) -> Any:
    """A chain of one And or Or as a balanced tree: as deep as log2 of its length."""
    while len(operands) > 1:
        operands = [
            kind(operands[i], operands[i + 1]) if i + 1 < len(operands) else operands[i]
            for i in range(0, len(operands), 2)
        ]
    return operands[0]


def _bbox(arguments: list[Any]) -> values.Envelope:
    numbers = [a for a in arguments if isinstance(a, int | float) and not isinstance(a, bool)]
    if len(arguments) not in (4, 6) or len(numbers) != len(arguments):
        raise BadRequest(_("BBOX takes four numbers: west, south, east, north."))
    west, south, east, north = numbers if len(numbers) == 4 else [numbers[i] for i in (0, 1, 3, 4)]
    return values.Envelope(west, east, south, north)


def _rewrite(node: Any) -> Any:
    """CQL2's BBOX(w, s, e, n) literal, which pygeofilter leaves as a function call; and
    chains of AND or OR balanced (the evaluator and SQLAlchemy recurse into them)."""
    if isinstance(node, ast.Function) and node.name.lower() == "bbox":
        return _bbox(list(node.arguments))
    if isinstance(node, ast.Combination):
        return _balanced(type(node), [_rewrite(operand) for operand in _chain(node)])
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if isinstance(value, list):
                setattr(node, field.name, [_rewrite(v) for v in value])
            elif dataclasses.is_dataclass(value):
                setattr(node, field.name, _rewrite(value))
    return node


def _check_coordinates(literal: Any) -> None:
    if isinstance(literal, values.Envelope):
        west, south, east, north = literal.x1, literal.y1, literal.x2, literal.y2
    else:
        try:
            west, south, east, north = shapely.geometry.shape(literal.geometry).bounds
        except (ValueError, TypeError, AttributeError, shapely.errors.ShapelyError) as exc:
            message = _("A geometry in the filter is not valid: %(e)s", e=str(exc)[:120])
            raise BadRequest(message) from None
    inside = -180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90
    if not inside:
        raise BadRequest(
            _(
                "A geometry in the filter has coordinates out of range: longitudes go from"
                " -180 to 180 and latitudes from -90 to 90 (CRS84)."
            )
        )


def _kind_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime | dt.date | values.Interval):
        return "datetime"
    if isinstance(value, values.Geometry | values.Envelope):
        return "geometry"
    return None


def _attribute(node: Any) -> Any:
    """The queryable a node names; None for a literal or a property the catalogue does
    not know: the queryables document allows other properties, and a filter reads such
    a property as null (a comparison with it matches no item; IS NULL matches all)."""
    if isinstance(node, ast.Attribute):
        return lookup(node.name)
    if isinstance(node, ast.Function) and node.name not in ("lower",):
        raise BadRequest(_("The function %(f)s is not supported.", f=node.name))
    return None


def _check(node: Any) -> None:
    """Walk the tree: every property known, every literal of the property's kind."""
    if isinstance(node, ast.Attribute | ast.Function):
        _attribute(node)
    if isinstance(node, ast.Arithmetic):
        raise BadRequest(_("Arithmetic is not supported in filters."))
    if isinstance(node, ast.Comparison | ast.Between | ast.In | ast.Like):
        queryable = _attribute(node.lhs)
        if queryable is not None:
            literals: list[Any] = []
            if isinstance(node, ast.Comparison):
                literals = [node.rhs]
            elif isinstance(node, ast.Between):
                literals = [node.low, node.high]
            elif isinstance(node, ast.In):
                literals = list(node.sub_nodes)
            if isinstance(node, ast.Like) and queryable.kind != "string":
                raise BadRequest(
                    _("LIKE applies to text; %(name)s is not text.", name=queryable.name)
                )
            for literal in literals:
                kind = _kind_of(literal)
                if kind is not None and kind != queryable.kind:
                    raise BadRequest(
                        _(
                            "%(name)s is a %(kind)s; it cannot be compared with %(value)s.",
                            name=queryable.name,
                            kind=queryable.kind,
                            value=repr(literal)[:60],
                        )
                    )
    if isinstance(node, ast.TemporalPredicate):
        queryable = _attribute(node.lhs)
        if queryable is not None and queryable.kind != "datetime":
            raise BadRequest(_("%(name)s is not a date.", name=queryable.name))
    if isinstance(node, ast.SpatialComparisonPredicate | ast.BBox):
        queryable = _attribute(node.lhs)
        if queryable is not None and queryable.kind != "geometry":
            raise BadRequest(_("%(name)s is not a geometry.", name=queryable.name))
    if isinstance(node, values.Geometry | values.Envelope):
        _check_coordinates(node)
    if isinstance(node, ast.Node):
        for child in node.get_sub_nodes():
            _check(child)
