"""/api/v1: JSON over bearer tokens."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest

from dinamis.accounts.permissions import can_use_api
from dinamis.api import openapi
from dinamis.api.auth import api_user
from dinamis.api.serializers import me_json
from dinamis.core.errors import MalformedInput
from dinamis.core.permissions import public, requires
from dinamis.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    if not request.is_json:
        raise MalformedInput(_("Send a JSON body with Content-Type: application/json."))
    try:
        data = request.get_json()
    except BadRequest:
        raise MalformedInput(_("The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise MalformedInput(_("The body must be a JSON object."))
    return data


@bp.route("/openapi.json")
@public
def openapi_document() -> Any:
    return jsonify(openapi.build())


@bp.route("/me")
@requires(can_use_api, api=True)
def me() -> Any:
    return jsonify(me_json(api_user()))


openapi.document(
    "/me",
    "get",
    {
        "summary": "The token's user, their entity, profile and roles",
        "operationId": "getMe",
        "responses": {
            "200": {
                "description": "The current user",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Me"}}},
            }
        },
    },
)
openapi.schema(
    "Me",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "email": {"type": "string", "format": "email"},
            "first_name": {"type": "string"},
            "last_name": {"type": "string"},
            "language": {"type": "string", "enum": ["fr", "en"]},
            "status": {"type": "string"},
            "roles": {"type": "array", "items": {"type": "string"}},
            "entity": {
                "type": ["object", "null"],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "acronym": {"type": ["string", "null"]},
                    "status": {"type": "string"},
                },
            },
            "profile": {
                "type": ["object", "null"],
                "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
            },
        },
    },
)
