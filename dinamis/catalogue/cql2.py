"""CQL2 filters (text and JSON) on the scene queryables, through pygeofilter.

pygeofilter parses and turns the tree into SQLAlchemy expressions; before
that, the tree is checked here against the queryables so that a mistake
(an unknown property, a word compared with a number, a LIKE on an angle)
gets a message that says what is wrong instead of a database error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import shapely
from flask_babel import gettext as _
from lark.exceptions import LarkError
from pygeofilter import ast, values
from pygeofilter.backends.evaluator import handle
from pygeofilter.backends.sqlalchemy.evaluate import SQLAlchemyFilterEvaluator
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text
from sqlalchemy import ColumnElement, and_

from dinamis.catalogue.queryables import QUERYABLES, lookup
from dinamis.core.errors import BadRequest

LANGUAGES = ("cql2-text", "cql2-json")
MAX_TEXT = 20_000


class _Evaluator(SQLAlchemyFilterEvaluator):
    """pygeofilter's evaluator, with the temporal predicates STAC clients send.

    An instant or an interval with open ends ('..') compared with the
    acquisition time: intersects/during/equals keep the scenes inside, before
    and after compare with the start or the end.
    """

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
    if isinstance(raw, str) and len(raw) > MAX_TEXT:
        raise BadRequest(_("The filter is too long."))
    try:
        tree = parse_text(raw) if language == "cql2-text" else parse_json(raw)
    except LarkError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise BadRequest(_("The filter is not valid CQL2 text: %(e)s", e=first[:200])) from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise BadRequest(
            _("The filter is not valid %(lang)s: %(e)s", lang=language, e=str(exc)[:200])
        ) from None
    tree = _rewrite(tree)
    _check(tree)
    mapping = {name: q.column for name, q in QUERYABLES.items()}
    mapping.update({f"properties.{name}": q.column for name, q in QUERYABLES.items()})
    try:
        return _Evaluator(mapping, False).evaluate(tree)  # type: ignore[no-any-return]
    # pygeofilter's evaluator raises NotImplementedError for an operator it has no SQL for.
    except (KeyError, TypeError, ValueError, AttributeError, NotImplementedError) as exc:
        raise BadRequest(
            _("Dinamis cannot apply this filter: %(e)s", e=str(exc)[:200] or type(exc).__name__)
        ) from None


def _bbox(arguments: list[Any]) -> values.Envelope:
    numbers = [a for a in arguments if isinstance(a, int | float) and not isinstance(a, bool)]
    if len(arguments) not in (4, 6) or len(numbers) != len(arguments):
        raise BadRequest(_("BBOX takes four numbers: west, south, east, north."))
    west, south, east, north = numbers if len(numbers) == 4 else [numbers[i] for i in (0, 1, 3, 4)]
    return values.Envelope(west, east, south, north)


def _rewrite(node: Any) -> Any:
    """CQL2's BBOX(w, s, e, n) literal, which pygeofilter leaves as a function call."""
    if isinstance(node, ast.Function) and node.name.lower() == "bbox":
        return _bbox(list(node.arguments))
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
    if isinstance(node, ast.Attribute):
        found = lookup(node.name)
        if found is None:
            raise BadRequest(
                _(
                    "%(name)s is not a queryable property; see /stac/queryables"
                    " (for example eo:cloud_cover, datetime, platform).",
                    name=node.name,
                )
            )
        return found
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
