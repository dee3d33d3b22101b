"""/api/v1/quota: the entity's balances per family for a period, and its ledger statement."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from flask_babel import gettext as _
from pydantic import BeforeValidator, Field

from dinamis.api.auth import api_account
from dinamis.api.openapi import (
    PERIOD,
    Answer,
    Declaration,
    Id,
    Input,
    Output,
    api_user_operation,
)
from dinamis.api.serializers import IsoDate
from dinamis.core import dates
from dinamis.core.errors import ServiceError
from dinamis.core.loading import get_or_404
from dinamis.core.permissions import ensure
from dinamis.membership.models import Entity
from dinamis.quota import service
from dinamis.quota.permissions import can_view_entity_quota
from dinamis.quota.statement import COLUMNS, statement


def _km2(value: Any) -> Any:
    return f"{value:.2f}" if isinstance(value, Decimal) else value


Km2 = Annotated[
    str,
    BeforeValidator(_km2),
    Field(description="km², a decimal string", examples=["150.25"]),
]


class QuotaQuery(Input):
    entity: Id | None = Field(
        None, description="Staff: the entity to read (members read their own)"
    )
    period: PERIOD | None = Field(None, description="A year (2027) or a quarter (2027-Q1)")


# Read from a `service.Balance` (the names it answers under are the API's).
class FamilyBalance(Output):
    family: str
    allowance_km2: Km2 = Field(validation_alias="granted")
    reserved_km2: Km2 = Field(validation_alias="reserved")
    consumed_km2: Km2 = Field(validation_alias="consumed")
    available_km2: Km2 = Field(validation_alias="available")
    cofunded_reserved_km2: Km2 = Field(validation_alias="cofunded_reserved")
    cofunded_consumed_km2: Km2 = Field(validation_alias="cofunded_consumed")


class Quota(Output):
    entity_id: int
    period: str
    families: list[FamilyBalance]


def _in_columns(changes: Any) -> Any:
    """A posting's changes per account, in the statement's column order."""
    return (
        {k: changes[k] for k in COLUMNS if k in changes} if isinstance(changes, dict) else changes
    )


# Read from a `statement.StatementLine`.
class LedgerLine(Output):
    transaction_id: int
    at: IsoDate
    kind: str
    family: str
    period: str
    reference: str | None
    reason: str | None
    changes_km2: Annotated[dict[str, Km2], BeforeValidator(_in_columns)] = Field(
        validation_alias="changes"
    )


class Ledger(Output):
    entity_id: int
    period: str | None
    lines: list[LedgerLine]


def _entity(query: QuotaQuery) -> Entity:
    """The caller's entity; staff name one with ?entity=ID."""
    user = api_account()
    if query.entity is not None:
        entity_id = query.entity
    elif user.entity_id is not None:
        entity_id = user.entity_id
    else:
        # Required for staff only: a rule on who calls, not a malformed request.
        raise ServiceError(_("Name the entity: ?entity=ID."), fields={"entity": _("Required.")})
    entity = get_or_404(Entity, entity_id)
    ensure(can_view_entity_quota(user, entity.id))
    return entity


# What `_entity` refuses, for each operation that reads the entity from a QuotaQuery.
ENTITY_REFUSALS = {
    404: Answer("No such entity"),
    422: Answer("Staff: name the entity (?entity=ID)"),
}


def _entity_operation(route: str, operation_id: str, answer: Answer) -> Declaration:
    """An operation on one entity's quota, read from a QuotaQuery by `_entity` (any API
    user for their own entity; staff name one): its answer, or what `_entity` refuses."""
    return api_user_operation(
        route, operation_id, query=QuotaQuery, answers={200: answer, **ENTITY_REFUSALS}
    )


@_entity_operation("GET /quota", "getQuota", Answer("Balances (decimal strings, km²)", Quota))
def quota_balances(query: QuotaQuery) -> Quota:
    """Allowance, reserved, consumed and available km² per family for a period"""
    entity = _entity(query)
    period = query.period or service.period_for(dates.today())
    families = [
        FamilyBalance.model_validate(b, from_attributes=True)
        for b in service.balances(entity)
        if b.period == period
    ]
    return Quota(entity_id=entity.id, period=period, families=families)


@_entity_operation("GET /quota/ledger", "getQuotaLedger", Answer("Statement lines", Ledger))
def quota_ledger(query: QuotaQuery) -> Ledger:
    """The entity's ledger statement: every posting on its accounts"""
    entity = _entity(query)
    lines = [
        LedgerLine.model_validate(line, from_attributes=True)
        for line in statement(entity, query.period)
    ]
    return Ledger(entity_id=entity.id, period=query.period, lines=lines)
