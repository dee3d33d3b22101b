"""The Referent edits the entity's details; changes of legal data go to staff for review."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from dinamis.accounts import service as accounts
from dinamis.core.db import utcnow
from dinamis.core.errors import Conflict, Forbidden, ServiceError
from dinamis.core.mail import queue_mail
from dinamis.extensions import db
from dinamis.membership import audit
from dinamis.membership.models import Entity
from dinamis.membership.permissions import can_name_deputies, can_review_memberships
from dinamis.membership.requests import EntityChange
from dinamis.membership.validation import professional_email, siret_is_valid

FREE_FIELDS = ("address", "sector", "parent_bodies", "website")
LEGAL_FIELDS = (
    "name",
    "acronym",
    "national_id",
    "country",
    "legal_rep_name",
    "legal_rep_function",
    "legal_rep_email",
)


def _check_legal(entity: Entity, changes: dict[str, str]) -> None:
    errors: dict[str, str] = {}
    national_id = changes.get("national_id", entity.national_id or "")
    country = changes.get("country", entity.country)
    siret = "national_id" in changes and country == "FR" and entity.national_id_type == "siret"
    if siret and not siret_is_valid(national_id):
        errors["national_id"] = _("This SIRET number is not valid (14 digits, checksum).")
    if "legal_rep_email" in changes:
        try:
            changes["legal_rep_email"] = professional_email(
                changes["legal_rep_email"], "legal_rep_email"
            )
        except ServiceError as error:
            errors.update(error.fields)
    if "name" in changes and not changes["name"].strip():
        errors["name"] = _("Required.")
    if errors:
        raise ServiceError(_("Some fields need your attention."), fields=errors)


def update_details(actor: Any, entity: Entity, values: dict[str, str]) -> EntityChange | None:
    """Apply the free fields now; file the legal ones for staff. Returns the filed change."""
    if not can_name_deputies(actor, entity.id):
        raise Forbidden(_("Only the Referent edits the entity's details."))
    free = {k: values[k].strip() for k in FREE_FIELDS if k in values}
    for key, value in free.items():
        if (getattr(entity, key) or "") != value:
            setattr(entity, key, value or None)
    if "email_domains" in values:
        domains = sorted(
            {d.strip().lower().lstrip("@") for d in values["email_domains"].split(",") if d.strip()}
        )
        entity.email_domains = domains
    legal = {
        k: values[k].strip()
        for k in LEGAL_FIELDS
        if k in values and values[k].strip() != (getattr(entity, k) or "")
    }
    db.session.flush()
    audit.record(actor, "entity.details_updated", entity, entity_id=entity.id)
    if not legal:
        return None
    _check_legal(entity, legal)
    pending = db.session.scalar(
        select(EntityChange).where(
            EntityChange.entity_id == entity.id, EntityChange.status == "pending"
        )
    )
    if pending is not None:
        raise Conflict(_("A change of legal data is already waiting for the Dinamis team."))
    change = EntityChange(entity_id=entity.id, requested_by_id=actor.id, changes=legal)
    db.session.add(change)
    db.session.flush()
    audit.record(actor, "entity.legal_change_requested", change, entity_id=entity.id, **legal)
    for staff in accounts.active_staff():
        queue_mail(
            staff.email,
            "entity_change",
            language=staff.language,
            entity=entity,
            change=change,
            user=staff,
        )
    return change


def pending_changes() -> list[EntityChange]:
    return list(
        db.session.scalars(
            select(EntityChange).where(EntityChange.status == "pending").order_by(EntityChange.id)
        )
    )


def decide_change(actor: Any, change: EntityChange, approve: bool, reason: str = "") -> None:
    """Staff apply the legal change (refusing a clash with another member) or reject it."""
    if not can_review_memberships(actor):
        raise Forbidden(_("Only staff review changes of legal data."))
    if change.status != "pending":
        raise Conflict(_("This change was already decided."))
    entity = change.entity
    if approve:
        national_id = change.changes.get("national_id")
        name = change.changes.get("name")
        conditions = []
        if national_id:
            conditions.append(Entity.national_id == national_id)
        if name:
            conditions.append(
                (func.lower(Entity.name) == name.lower()) & (Entity.country == entity.country)
            )
        clash = (
            db.session.scalar(select(Entity).where(Entity.id != entity.id, or_(*conditions)))
            if conditions
            else None
        )
        if clash is not None:
            raise Conflict(_("%(name)s already has this name or identifier.", name=clash.name))
        for key, value in change.changes.items():
            setattr(entity, key, value or None if key != "name" else value)
        change.status = "approved"
    else:
        if not reason.strip():
            raise ServiceError(
                _("Give the reason for the rejection."), fields={"reason": _("Required.")}
            )
        change.status, change.reason = "rejected", reason.strip()
    change.decided_by_id, change.decided_at = actor.id, utcnow()
    db.session.flush()
    audit.record(
        actor,
        f"entity.legal_change_{change.status}",
        change,
        entity_id=entity.id,
        reason=change.reason,
    )
