"""The OpenAPI document of /api/v1, grown by each domain's API routes."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from flask import current_app

_PATHS: dict[str, dict[str, Any]] = {}
_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "example": "not_found"},
                    "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        },
    }
}


def error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


STANDARD_ERRORS = {
    "401": error_response("Missing, unknown or revoked token"),
    "403": error_response("The token's user may not do this"),
}


def document(path: str, method: str, operation: dict[str, Any]) -> None:
    """Add one operation (an OpenAPI Operation Object) to the document."""
    operation = copy.deepcopy(operation)
    operation.setdefault("responses", {}).update(
        {k: v for k, v in STANDARD_ERRORS.items() if k not in operation["responses"]}
        if operation.pop("authenticated", True)
        else {}
    )
    _PATHS.setdefault(path, {})[method.lower()] = operation


def schema(name: str, body: dict[str, Any]) -> None:
    _SCHEMAS[name] = body


def build() -> dict[str, Any]:
    base = current_app.config["DINAMIS_SETTINGS"].base_url
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dinamis API",
            "version": "1",
            "description": "Institutional access to very-high-resolution satellite imagery.",
        },
        "servers": [{"url": f"{base}/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": copy.deepcopy(_PATHS),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal token created on the profile page.",
                }
            },
            "schemas": copy.deepcopy(_SCHEMAS),
        },
    }


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # its type, format, enumeration or schema, in short
    required: bool
    note: str = ""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    parameters: list[Field]
    body: str | None  # the request body's schema name
    responses: list[tuple[str, str, str | None]]  # status, description, schema name


def _kind(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "enum" in spec:
        return " | ".join(str(v) for v in spec["enum"])
    kind = str(spec.get("type", "any"))
    if kind == "array" and "items" in spec:
        return f"array of {_kind(spec['items'])}"
    if "format" in spec:
        kind += f" ({spec['format']})"
    bounds = [f"{k} {spec[k]}" for k in ("minimum", "maximum", "maxLength") if k in spec]
    return kind + (f", {', '.join(bounds)}" if bounds else "")


def _schema_name(content: dict[str, Any] | None) -> str | None:
    for media in (content or {}).values():
        ref = media.get("schema", {}).get("$ref")
        if ref:
            return str(ref.rsplit("/", 1)[-1])
    return None


def fields(spec: dict[str, Any], prefix: str = "") -> list[Field]:
    """An object schema's properties, nested objects flattened (`window.start`)."""
    required = set(spec.get("required", ()))
    found = []
    for name, prop in spec.get("properties", {}).items():
        found.append(
            Field(prefix + name, _kind(prop), name in required, prop.get("description", ""))
        )
        if prop.get("type") == "object" and "properties" in prop:
            found.extend(fields(prop, f"{prefix}{name}."))
    return found


def reference() -> tuple[list[Operation], dict[str, list[Field]]]:
    """The document as a human-readable reference: its operations, then its schemas."""
    document = build()
    operations = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            parameters = [
                Field(
                    p["name"],
                    f"{p['in']}: {_kind(p.get('schema', {}))}",
                    bool(p.get("required")),
                    p.get("description", ""),
                )
                for p in operation.get("parameters", ())
            ]
            responses = [
                (status, answer.get("description", ""), _schema_name(answer.get("content")))
                for status, answer in sorted(operation.get("responses", {}).items())
            ]
            body = _schema_name(operation.get("requestBody", {}).get("content"))
            operations.append(
                Operation(
                    method.upper(), path, operation.get("summary", ""), parameters, body, responses
                )
            )
    schemas = {name: fields(spec) for name, spec in document["components"]["schemas"].items()}
    return operations, schemas
