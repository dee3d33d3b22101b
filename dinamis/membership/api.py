"""/api/v1/entities: an entity and its members, for its Referent (and deputies) and staff."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify

from dinamis.accounts.permissions import can_use_api
from dinamis.api import openapi
from dinamis.api.auth import api_user
from dinamis.api.views import bp
from dinamis.core.permissions import ensure, requires
from dinamis.extensions import db
from dinamis.membership import members
from dinamis.membership.models import Entity
from dinamis.membership.permissions import can_view_entity


def entity_json(entity: Entity) -> dict[str, Any]:
    return {
        "id": entity.id,
        "name": entity.name,
        "acronym": entity.acronym,
        "status": entity.status,
        "country": entity.country,
        "national_id": entity.national_id,
        "profile": entity.profile.code,
        "membership_start": entity.membership_start.isoformat()
        if entity.membership_start
        else None,
        "membership_end": entity.membership_end.isoformat() if entity.membership_end else None,
    }


def _entity(entity_id: int) -> Entity:
    entity = db.session.get(Entity, entity_id)
    if entity is None:
        abort(404)
    ensure(can_view_entity(api_user(), entity.id))
    return entity


@bp.route("/entities/<int:entity_id>")
@requires(can_use_api, api=True)
def get_entity(entity_id: int) -> Any:
    return jsonify(entity_json(_entity(entity_id)))


@bp.route("/entities/<int:entity_id>/members")
@requires(can_use_api, api=True)
def get_members(entity_id: int) -> Any:
    entity = _entity(entity_id)
    return jsonify(
        {
            "entity_id": entity.id,
            "members": [
                {
                    "id": u.id,
                    "email": u.email,
                    "first_name": u.first_name,
                    "last_name": u.last_name,
                    "entity_role": u.entity_role,
                    "status": u.status,
                }
                for u in members.members(entity.id)
            ],
        }
    )


_ENTITY_PARAM = [
    {"name": "entity_id", "in": "path", "required": True, "schema": {"type": "integer"}}
]
openapi.document(
    "/entities/{entity_id}",
    "get",
    {
        "summary": "An entity (its Referent, deputies and staff only)",
        "operationId": "getEntity",
        "parameters": _ENTITY_PARAM,
        "responses": {
            "200": {"description": "The entity"},
            "404": openapi.error_response("No such entity"),
        },
    },
)
openapi.document(
    "/entities/{entity_id}/members",
    "get",
    {
        "summary": "An entity's members (its Referent, deputies and staff only)",
        "operationId": "getEntityMembers",
        "parameters": _ENTITY_PARAM,
        "responses": {
            "200": {"description": "The members"},
            "404": openapi.error_response("No such entity"),
        },
    },
)
