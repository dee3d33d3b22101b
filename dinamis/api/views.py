"""/api/v1: JSON over bearer tokens."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest

from dinamis.api import openapi
from dinamis.api.auth import api_account
from dinamis.api.openapi import Answer, Link, api_user_operation
from dinamis.api.serializers import Me, me_json
from dinamis.core.errors import MalformedInput
from dinamis.core.permissions import public
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


@api_user_operation(
    "GET /me",
    "getMe",
    answers={200: Answer("The current user", Me)},
    links={
        200: [
            Link("entity", "getEntity", {"entity_id": "$response.body#/entity/id"}),
            Link("members", "getEntityMembers", {"entity_id": "$response.body#/entity/id"}),
        ]
    },
)
def me() -> Me:
    """The token's user, their entity, profile and roles"""
    return me_json(api_account())
