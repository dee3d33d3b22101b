"""/api/v1/quota: the entity's balances per family for a period, and its ledger statement."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, jsonify, request
from flask_babel import gettext as _

from dinamis.accounts.permissions import can_use_api
from dinamis.api import openapi
from dinamis.api.auth import api_user
from dinamis.api.views import bp
from dinamis.core.errors import BadRequest
from dinamis.core.permissions import ensure, requires
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.quota import service
from dinamis.quota.permissions import can_view_entity_quota
from dinamis.quota.statement import COLUMNS, statement


def _entity() -> Entity:
    """The caller's entity; staff name one with ?entity=ID."""
    user = api_user()
    wanted = request.args.get("entity")
    if wanted is not None:
        if not wanted.isdigit():
            raise BadRequest(_("entity must be an entity id."))
        entity_id = int(wanted)
    elif user.entity_id is not None:
        entity_id = user.entity_id
    else:
        raise BadRequest(_("Name the entity: ?entity=ID."))
    entity = db.session.get(Entity, entity_id)
    if entity is None:
        abort(404)
    ensure(can_view_entity_quota(user, entity.id))
    return entity


def _period() -> str:
    period = request.args.get("period") or service.period_for(dt.date.today())
    try:
        return service.validate_period(period)
    except Exception as exc:  # a ServiceError: a query parameter, so a 400
        raise BadRequest(getattr(exc, "message", str(exc))) from None


def _km2(value: Any) -> str:
    return f"{value:.2f}"


@bp.route("/quota")
@requires(can_use_api, api=True)
def quota_balances() -> Any:
    entity, period = _entity(), _period()
    families = [
        {
            "family": b.family,
            "allowance_km2": _km2(b.granted),
            "reserved_km2": _km2(b.reserved),
            "consumed_km2": _km2(b.consumed),
            "available_km2": _km2(b.available),
            "cofunded_reserved_km2": _km2(b.cofunded_reserved),
            "cofunded_consumed_km2": _km2(b.cofunded_consumed),
        }
        for b in service.balances(entity)
        if b.period == period
    ]
    return jsonify({"entity_id": entity.id, "period": period, "families": families})


@bp.route("/quota/ledger")
@requires(can_use_api, api=True)
def quota_ledger() -> Any:
    entity = _entity()
    period = _period() if request.args.get("period") else None
    lines = [
        {
            "transaction_id": line.transaction_id,
            "at": line.at.isoformat(),
            "kind": line.kind,
            "family": line.family,
            "period": line.period,
            "reference": line.reference,
            "reason": line.reason,
            "changes_km2": {k: _km2(line.changes[k]) for k in COLUMNS if k in line.changes},
        }
        for line in statement(entity, period)
    ]
    return jsonify({"entity_id": entity.id, "period": period, "lines": lines})


_ENTITY = {
    "name": "entity",
    "in": "query",
    "schema": {"type": "integer"},
    "description": "Staff: the entity to read (members read their own).",
}
_PERIOD = {"name": "period", "in": "query", "schema": {"type": "string", "example": "2027"}}
openapi.document(
    "/quota",
    "get",
    {
        "summary": "Allowance, reserved, consumed and available km² per family for a period",
        "operationId": "getQuota",
        "parameters": [_ENTITY, _PERIOD],
        "responses": {"200": {"description": "Balances (decimal strings, km²)"}},
    },
)
openapi.document(
    "/quota/ledger",
    "get",
    {
        "summary": "The entity's ledger statement: every posting on its accounts",
        "operationId": "getQuotaLedger",
        "parameters": [_ENTITY, _PERIOD],
        "responses": {"200": {"description": "Statement lines"}},
    },
)
