"""The audit trail: every decision on memberships, accounts and roles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dinamis.extensions import db
from dinamis.membership.requests import AuditEvent


def record(
    actor: Any,
    action: str,
    obj: Any,
    *,
    entity_id: int | None = None,
    reason: str | None = None,
    **data: Any,
) -> AuditEvent:
    """Write one audit event in the current transaction."""
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        action=action,
        object_type=type(obj).__name__,
        object_id=getattr(obj, "id", None),
        entity_id=entity_id,
        reason=reason,
        data={k: str(v) for k, v in data.items()},
    )
    db.session.add(event)
    db.session.flush()
    return event


def events(entity_id: int | None = None, limit: int = 500) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    return list(db.session.scalars(query))
