"""The audit trail: every decision on memberships, accounts and roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from dinamis.accounts.models import User
from dinamis.core.db import Base
from dinamis.extensions import db
from dinamis.membership.models import AuditEvent, Entity

# What each recorded action means, for the staff's audit page.
ACTIONS = {
    "account.approved": _l("account request approved"),
    "account.refused": _l("account request refused"),
    "entity.details_updated": _l("entity details updated"),
    "entity.profile_changed": _l("entity's profile changed"),
    "entity.legal_change_requested": _l("change of legal data requested"),
    "entity.legal_change_approved": _l("change of legal data approved"),
    "entity.legal_change_rejected": _l("change of legal data refused"),
    "member.active": _l("member reactivated"),
    "member.suspended": _l("member suspended"),
    "member.removed": _l("member removed"),
    "member.deputy": _l("made deputy referent"),
    "member.not_deputy": _l("no longer deputy referent"),
    "membership.approved": _l("membership approved"),
    "membership.rejected": _l("membership refused"),
    "membership.withdrawn": _l("membership request withdrawn"),
    "membership.legal_rep_accepted": _l(
        "Charter and licences accepted by the Legal Representative"
    ),
    "membership.renewal_requested": _l("renewal requested"),
    "membership.renewed": _l("membership renewed"),
    "membership.expired": _l("membership expired"),
    "referent.handover_offered": _l("Referent role offered"),
    "referent.handover_accepted": _l("Referent role handed over"),
}


@dataclass(frozen=True)
class AuditLine:
    event: AuditEvent
    actor: str | None  # the actor's name and e-mail; None for the system or an outsider
    entity: str | None

    @property
    def action(self) -> str:
        return str(ACTIONS.get(self.event.action, self.event.action))


def record(
    actor: User | None,
    action: str,
    obj: Base,
    *,
    entity_id: int | None = None,
    reason: str | None = None,
    **data: Any,
) -> AuditEvent:
    """Write one audit event in the current transaction."""
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
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


def events(entity_id: int | None = None, limit: int = 500) -> list[AuditLine]:
    """The newest events first, with who did them and on which entity, by name."""
    query = (
        select(AuditEvent, User, Entity.name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .outerjoin(Entity, Entity.id == AuditEvent.entity_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    return [
        AuditLine(event, f"{actor.full_name} <{actor.email}>" if actor else None, entity)
        for event, actor, entity in db.session.execute(query)
    ]
