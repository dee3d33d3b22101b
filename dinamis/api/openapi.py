"""One declaration per API operation: validation, serialization and the OpenAPI 3.1 document.

Each /api/v1 view is decorated with `operation(...)`, which names its input
(path parameters from the Flask rule, a query model, a body model) and its
answers (a pydantic model per status). The decorator validates the request
against those models before the view runs (a 400 for the query, a 422 for
the body, with a message per field in the request's language), serializes
the view's answer through its model, and records the operation (its summary
is the view's docstring); `build()` writes the document from the same records.
Nothing else describes the API.

Library: pydantic v2 (strict models). The app is plain Flask blueprints with
our own access checks (`@requires`), error shape and Idempotency-Key, which
flask-openapi3, spectree and APIFlask would each want to own; pydantic alone
gives strict validation and JSON Schema (2020-12, what OpenAPI 3.1 uses), and
this module is the thin glue.
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial, wraps
from typing import Annotated, Any

from flask import Response, abort, request
from flask_babel import gettext as _
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import models_json_schema

from dinamis import config
from dinamis.accounts.permissions import can_use_api
from dinamis.api import idempotency
from dinamis.api.auth import api_account
from dinamis.core.errors import BadRequest, ServiceError
from dinamis.core.permissions import Check

INT_MAX = 2**31 - 1  # PostgreSQL's integer
NUL_FREE = r"^[^\x00]*$"


class Input(BaseModel):
    """A request's body or query: strict types, unknown fields refused, finite numbers."""

    model_config = ConfigDict(
        strict=True, extra="forbid", allow_inf_nan=False, json_schema_mode_override="validation"
    )


class Output(BaseModel):
    """An answer: every field always present (null when it has no value)."""

    model_config = ConfigDict(
        json_schema_serialization_defaults_required=True, json_schema_mode_override="serialization"
    )


def Text(max_length: int, *, min_length: int = 0) -> StringConstraints:
    """`Annotated[str, Text(200)]`: a string within its column's length, without NUL."""
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=NUL_FREE)


Id = Annotated[int, Field(ge=1, le=INT_MAX)]
PERIOD_PATTERN = r"^[0-9]{4}(-Q[1-4])?$"
DECIMAL_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,6})?$"
PERIOD = Annotated[str, StringConstraints(pattern=PERIOD_PATTERN)]


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("date")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("date") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise ValueError("date")


Day = Annotated[
    dt.date, BeforeValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})
]


# --- the operations -----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"


@dataclass(frozen=True)
class Link:
    """An OpenAPI link from an answer to another operation (for clients and fuzzers)."""

    name: str
    operation_id: str
    parameters: dict[str, str]


@dataclass
class Operation:
    rule: str  # the Flask rule under /api/v1
    method: str
    operation_id: str  # may hold {kind} for a rule with an `any` converter
    answers: dict[int, Answer]
    summary: str = ""  # the view's docstring, its first paragraph
    body: type[Input] | None = None
    body_required: bool = True
    query: type[Input] | None = None
    headers: list[dict[str, Any]] = field(default_factory=list)
    authenticated: bool = True
    links: dict[int, list[Link]] = field(default_factory=dict)
    description: str = ""  # the docstring's other paragraphs


_OPERATIONS: list[Operation] = []
View = Callable[..., Any]
Declaration = Callable[[View], View]  # what `operation(...)` gives: it decorates the view
_CONVERTER = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _any_values(args: str) -> list[str]:
    return [a.strip().strip("'\"") for a in args.split(",") if a.strip()]


STANDARD_ERRORS = {
    401: Answer("Missing, unknown or revoked token"),
    403: Answer("The token's user may not do this"),
}
# A 422 declared by an operation without a body (a service's rule refused it).
REFUSED = Answer("Refused: a message per field in error.fields; nothing written")


def renamed(error: ServiceError, names: Mapping[str, str]) -> ServiceError:
    """The same refusal, its fields named as the API names them (`window_start`: `window.start`)."""
    return type(error)(error.message, fields={names.get(k, k): v for k, v in error.fields.items()})


def operation(
    route: str,
    operation_id: str,
    *,
    access: Check,
    answers: dict[int, Answer],
    body: type[Input] | None = None,
    body_required: bool = True,
    query: type[Input] | None = None,
    idempotent: bool = False,
    field_names: Mapping[str, str] | None = None,
    authenticated: bool = True,
    links: dict[int, list[Link]] | None = None,
    guard: Callable[..., Any] | None = None,
) -> Declaration:
    """Declare an operation: its route on the API blueprint, who may call it, its document.

    `route` is the method and the Flask rule under /api/v1 (`"PATCH /webhooks/<int:id>"`);
    `operation_id` its name in the document (may hold `{kind}` for an `any` converter).
    The view's docstring is the document's text: its first paragraph the summary,
    the paragraphs after it the description (a paragraph's lines joined by spaces).

    `access` is the named check of the token's user (`@requires(access, api=True)`),
    run before the request is validated, and so is `guard` (called with the path's
    values) for the checks that need an object or a service rule. Every module
    names the check it applies, in the call or in a partial named for it
    (`api_user_operation`): there is no default. The view receives `body=` and
    `query=` (validated models) when declared, and returns a model (serialized
    with the first 2xx answer's status), a `(model, status)` pair, or a Response.
    An operation with a body answers 400 and 422 without declaring them (the
    body's refusals); `REFUSED` declares the 422 of a service's rule for an
    operation without one.

    An `idempotent` operation (a create) takes an Idempotency-Key header: the
    key is claimed once the body is valid, and a repeat replays the stored
    answer. `field_names` renames the fields of a service's refusal raised by
    the view into the API's names.
    """
    method, rule = route.split(" ", 1)
    declared = Operation(
        rule=rule,
        method=method.upper(),
        operation_id=operation_id,
        answers=dict(answers),
        body=body,
        body_required=body_required,
        query=query,
        headers=[idempotency.PARAMETER] if idempotent else [],
        authenticated=authenticated,
        links=dict(links or {}),
    )
    success = min(s for s in answers if 200 <= s < 300)
    int_params = [name for conv, _a, name in _CONVERTER.findall(rule) if conv == "int"]

    def decorator(view: View) -> View:
        declared.summary, declared.description = _texts(view)
        _OPERATIONS.append(declared)

        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            for name in int_params:
                if not 1 <= kwargs[name] <= INT_MAX:
                    abort(404)
            if guard is not None:
                guard(**kwargs)
            if query is not None:
                kwargs["query"] = _validate_query(query)
            if body is not None:
                kwargs["body"] = _validate_body(body, body_required)
            claimed = None
            if idempotent:
                claimed = idempotency.claim(api_account(), kwargs["body"])
            if isinstance(claimed, Response):  # the same request again: its first answer
                return claimed
            try:
                result = view(*args, **kwargs)
            except ServiceError as error:
                if field_names is None:
                    raise
                raise renamed(error, field_names) from None
            if isinstance(result, Response):
                return result
            status = success
            if isinstance(result, tuple):
                result, status = result
            return idempotency.answer(claimed, dump(result), status)

        from dinamis.api.views import bp
        from dinamis.core.permissions import requires

        guarded = requires(access, api=True)(wrapped)
        bp.add_url_rule(rule, view_func=guarded, methods=[declared.method])
        return guarded

    return decorator


def _texts(view: View) -> tuple[str, str]:
    """The summary and the description an operation's view states in its docstring."""
    if not view.__doc__:
        raise TypeError(f"{view.__name__}: an API operation's docstring is its summary")
    paragraphs = [" ".join(p.split("\n")) for p in inspect.cleandoc(view.__doc__).split("\n\n")]
    return paragraphs[0], "\n\n".join(paragraphs[1:])


# The rule most operations name: any active account with a token; the operation's
# own object checks (its `guard`, its view) narrow it.
api_user_operation = partial(operation, access=can_use_api)


def dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def _validate_query(model: type[Input]) -> Input:
    data: dict[str, Any] = {}
    for name in request.args:
        values = request.args.getlist(name)
        data[name] = values[0] if len(values) == 1 else values
    try:
        return model.model_validate(data, strict=False)
    except ValidationError as exc:
        fields = field_errors(exc)
        name, message = next(iter(fields.items()))
        raise BadRequest(f"{name}: {message}", fields=fields) from None


def _validate_body(model: type[Input], required: bool) -> Input:
    from dinamis.api.views import json_body

    if not required and not request.get_data(cache=True):
        return model()
    data = json_body()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = field_errors(exc)
        name, message = next(iter(fields.items()))
        raise ServiceError(
            _(
                "Some of what you sent is not valid: %(field)s: %(message)s",
                field=name,
                message=message,
            ),
            fields=fields,
        ) from None


# --- messages for people ------------------------------------------------------------------


def _listed(expected: object) -> str:
    """pydantic's list of allowed values ("'a', 'b' or 'c'") as the codes alone, separated by
    commas: its English "or" would stand in a French sentence."""
    return str(expected or "").replace("'", "").replace(" or ", ", ")


def _message(error: Any) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        return _("Required.")
    if kind == "extra_forbidden":
        return _("Unknown field.")
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return _("Must be a whole number.")
    if kind in ("float_type", "float_parsing", "finite_number"):
        if kind == "finite_number" or (isinstance(value, int) and not isinstance(value, bool)):
            return _("Must be a finite number.")
        if isinstance(value, float) and not math.isfinite(value):
            return _("Must be a finite number.")
        return _("Must be a number.")
    if kind in ("string_type", "string_unicode"):
        return _("Must be text.")
    if kind in ("bool_type", "bool_parsing"):
        return _("Must be true or false.")
    if kind == "string_too_short":
        return _("Required.") if ctx.get("min_length") == 1 else _("Too short.")
    if kind == "string_too_long":
        return _("At most %(n)d characters.", n=ctx.get("max_length", 0))
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == NUL_FREE:
            return _("Must not contain a NUL character.")
        if ctx.get("pattern") == PERIOD_PATTERN:
            return _("A year (2027) or a quarter (2027-Q1).")
        if ctx.get("pattern") == DECIMAL_PATTERN:
            return _("A decimal number, such as 150.25.")
        return _("Not in the expected form (%(p)s).", p=ctx.get("pattern", ""))
    if kind in ("greater_than_equal", "greater_than"):
        return _("At least %(n)s.", n=ctx.get("ge", ctx.get("gt")))
    if kind in ("less_than_equal", "less_than"):
        return _("At most %(n)s.", n=ctx.get("le", ctx.get("lt")))
    if kind == "literal_error":
        return _("One of: %(v)s.", v=_listed(ctx.get("expected")))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = _listed(ctx.get("expected_tags"))
        if not tags or "Polygon" in tags:  # the only tagged union: a GeoJSON area
            return _("A GeoJSON Polygon or MultiPolygon.")
        return _("One of: %(v)s.", v=tags)
    if kind in ("list_type", "tuple_type"):
        return _("Must be a list.")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return _("Must be an object.")
    if kind == "too_short":
        return _("Number of items: at least %(n)d.", n=ctx.get("min_length", 0))
    if kind == "too_long":
        return _("Number of items: at most %(n)d.", n=ctx.get("max_length", 0))
    if kind in ("date_type", "date_parsing", "date_from_datetime_parsing"):
        return _("Must be a date (YYYY-MM-DD).")
    if kind == "value_error" and str(ctx.get("error")) == "date":
        return _("Must be a date (YYYY-MM-DD).")
    if kind == "value_error":
        return str(ctx.get("error"))
    return _("Not valid.")


_TAGS = {"Polygon", "MultiPolygon", "function-after", "function-before"}


def field_errors(exc: ValidationError) -> dict[str, str]:
    """`{"window.start": "Must be a date (YYYY-MM-DD)."}`: API field names, a message each."""
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        path = [str(p) for p in error["loc"] if str(p) not in _TAGS and not str(p).startswith("[")]
        name = ".".join(path) or "body"
        fields.setdefault(name, _message(error))
    return fields


# --- the document ---------------------------------------------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["not_found"]},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "A message per field in error (API field names).",
                },
            },
        }
    },
}
ERROR_DESCRIPTIONS = {
    400: "Malformed request (JSON, content type or query parameters)",
    401: "Missing, unknown or revoked token",
    403: "The token's user may not do this",
    404: "No such resource",
    409: "Not possible in the resource's state",
    422: REFUSED.description,
}


def _expand(op: Operation) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(path, operationId, path parameters) for each concrete path of an operation.

    A Flask `any(a, b)` converter gives one path per value, named in the
    operationId template (`getOrder_{kind}`); `int` gives a bounded integer.
    """
    expansions: list[tuple[str, dict[str, str]]] = [(op.rule, {})]
    parameters: list[dict[str, Any]] = []
    for match in _CONVERTER.finditer(op.rule):
        conv, args, name = match.groups()
        token = match.group(0)
        if conv == "any":
            expansions = [
                (path.replace(token, value), {**values, name: value})
                for path, values in expansions
                for value in _any_values(args)
            ]
            continue
        expansions = [(path.replace(token, "{" + name + "}"), v) for path, v in expansions]
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 1, "maximum": INT_MAX}
            if conv == "int"
            else {"type": "string"}
        )
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return [
        (path, camel(op.operation_id.format(**values)), parameters) for path, values in expansions
    ]


def camel(text: str) -> str:
    """An operationId from a template's text: `quote/accept_tasking-requests` -> quoteAccept..."""
    parts = re.split(r"[^A-Za-z0-9]+", text)
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _schemas() -> tuple[dict[tuple[type[BaseModel], str], Any], dict[str, Any]]:
    models: list[tuple[type[BaseModel], Any]] = []
    for op in _OPERATIONS:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.query is not None:
            models.append((op.query, "validation"))
        models.extend((a.model, "serialization") for a in op.answers.values() if a.model)
    unique = list(dict.fromkeys(models))
    refs, top = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    by_model: dict[tuple[type[BaseModel], str], Any] = {
        (model, mode): schema
        for (model, mode), schema in refs.items()
        if isinstance(model, type) and issubclass(model, BaseModel)
    }
    definitions: dict[str, Any] = top.get("$defs", {})
    return by_model, definitions


def build() -> dict[str, Any]:
    """The OpenAPI 3.1 document, from the declared operations."""
    base = config.current().base_url.rstrip("/")
    refs, schemas = _schemas()
    schemas = {**schemas, "Error": copy.deepcopy(ERROR_SCHEMA)}
    query_params: dict[type[BaseModel], list[dict[str, Any]]] = {}
    for model, _mode in refs:
        if any(op.query is model for op in _OPERATIONS):
            model_schema = schemas.pop(model.__name__, None) or {}
            required = set(model_schema.get("required", ()))
            query_params[model] = [
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
                    **({"description": prop["description"]} if "description" in prop else {}),
                }
                for name, prop in model_schema.get("properties", {}).items()
            ]
    paths: dict[str, dict[str, Any]] = {}
    for op in _OPERATIONS:
        for path, operation_id, path_params in _expand(op):
            parameters = list(path_params) + list(op.headers)
            if op.query is not None:
                parameters += query_params[op.query]
            answers = dict(op.answers)
            errors = set()
            if op.authenticated:
                errors |= {401, 403}
            if path_params:
                errors.add(404)
            if op.body is not None:
                errors |= {400, 422}
            if op.query is not None:
                errors.add(400)
            responses: dict[str, Any] = {}
            for status in sorted(set(answers) | errors):
                answer = answers.get(status) or Answer(ERROR_DESCRIPTIONS[status])
                content: dict[str, Any] = {}
                if answer.model is not None:
                    content = {answer.media_type: {"schema": refs[(answer.model, "serialization")]}}
                elif answer.media_type != "application/json":
                    content = {
                        answer.media_type: {"schema": {"type": "string", "format": "binary"}}
                    }
                elif status >= 400:
                    content = {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    }
                responses[str(status)] = {"description": answer.description}
                if content:
                    responses[str(status)]["content"] = content
                if status in op.links:
                    responses[str(status)]["links"] = {
                        link.name: {"operationId": link.operation_id, "parameters": link.parameters}
                        for link in op.links[status]
                    }
            spec: dict[str, Any] = {
                "summary": op.summary,
                "operationId": operation_id,
                "responses": responses,
            }
            if op.description:
                spec["description"] = op.description
            if parameters:
                spec["parameters"] = parameters
            if op.body is not None:
                spec["requestBody"] = {
                    "required": op.body_required,
                    "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
                }
            if not op.authenticated:
                spec["security"] = []
            paths.setdefault(path, {})[op.method.lower()] = spec
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dinamis API",
            "version": "1",
            "description": "Institutional access to very-high-resolution satellite imagery.",
        },
        "servers": [{"url": f"{base}/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal token created on the profile page.",
                }
            },
            "schemas": schemas,
        },
    }


# --- the reference page -------------------------------------------------------------------


@dataclass(frozen=True)
class Field_:
    name: str
    kind: str  # its type, format, enumeration or schema, in short
    required: bool
    note: str = ""


@dataclass(frozen=True)
class Reference:
    method: str
    path: str
    summary: str
    parameters: list[Field_]
    body: str | None  # the request body's schema name
    responses: list[tuple[str, str, str | None]]  # status, description, schema name


def _kind(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return str(spec["$ref"].rsplit("/", 1)[-1])
    for union in ("anyOf", "oneOf"):
        if union in spec:
            return " | ".join(_kind(s) for s in spec[union])
    if "const" in spec:
        return str(spec["const"])
    if "enum" in spec:
        return " | ".join(str(v) for v in spec["enum"])
    kind = spec.get("type", "any")
    kind = " | ".join(kind) if isinstance(kind, list) else str(kind)
    if kind == "array" and "items" in spec:
        return f"array of {_kind(spec['items'])}"
    if "format" in spec:
        kind += f" ({spec['format']})"
    bounds = [
        f"{k} {spec[k]}"
        for k in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems")
        if k in spec
    ]
    return kind + (f", {', '.join(bounds)}" if bounds else "")


def _schema_name(content: dict[str, Any] | None) -> str | None:
    for media in (content or {}).values():
        ref = media.get("schema", {}).get("$ref")
        if ref:
            return str(ref.rsplit("/", 1)[-1])
    return None


def fields(
    spec: dict[str, Any], schemas: dict[str, Any] | None = None, prefix: str = ""
) -> list[Field_]:
    """An object schema's properties, nested objects flattened (`window.start`)."""
    schemas = schemas or {}
    required = set(spec.get("required", ()))
    found = []
    for name, prop in spec.get("properties", {}).items():
        found.append(
            Field_(prefix + name, _kind(prop), name in required, prop.get("description", ""))
        )
        nested = prop
        if "$ref" in prop:
            nested = schemas.get(prop["$ref"].rsplit("/", 1)[-1], {})
        if nested.get("type") == "object" and "properties" in nested and len(prefix) < 60:
            found.extend(fields(nested, schemas, f"{prefix}{name}."))
    return found


def reference() -> tuple[list[Reference], dict[str, list[Field_]]]:
    """The document as a human-readable reference: its operations, then its schemas."""
    document = build()
    schemas = document["components"]["schemas"]
    operations = []
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            parameters = [
                Field_(
                    p["name"],
                    f"{p['in']}: {_kind(p.get('schema', {}))}",
                    bool(p.get("required")),
                    p.get("description", ""),
                )
                for p in spec.get("parameters", ())
            ]
            responses = [
                (status, answer.get("description", ""), _schema_name(answer.get("content")))
                for status, answer in sorted(spec.get("responses", {}).items())
            ]
            body = _schema_name(spec.get("requestBody", {}).get("content"))
            operations.append(
                Reference(
                    method.upper(), path, spec.get("summary", ""), parameters, body, responses
                )
            )
    return operations, {name: fields(spec, schemas) for name, spec in schemas.items()}


# --- the README's table -------------------------------------------------------------------


def readme_table(document: dict[str, Any]) -> str:
    """The README's table of operations, from the document (the same summary once)."""
    rows: dict[tuple[str, str], list[str]] = {}
    answers: dict[tuple[str, str], str] = {}
    for path, methods in sorted(document["paths"].items()):
        for method, spec in sorted(methods.items()):
            key = (method.upper(), spec.get("summary", ""))
            rows.setdefault(key, []).append(f"/api/v1{path}")
            statuses = []
            for status, answer in spec["responses"].items():
                name = _schema_name(answer.get("content"))
                statuses.append(f"{status} {name}" if name and name != "Error" else status)
            answers[key] = ", ".join(statuses)
    lines = ["| operation | what | answers |", "|---|---|---|"]
    for (method, summary), paths in rows.items():
        where = "<br>".join(f"`{method} {p}`" for p in paths)
        lines.append(f"| {where} | {summary} | {answers[(method, summary)]} |")
    return "\n".join(lines)
