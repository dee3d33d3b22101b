"""The OpenAPI document of /api/v1, grown by each domain's API routes."""

from __future__ import annotations

import copy
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
