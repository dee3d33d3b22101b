"""An approved entity's life: the Referent edits its details (changes of legal data go
to staff for review), reminders before expiry, renewal, the Referent's hand-over."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from dinamis import config
from dinamis.accounts import service as accounts
from dinamis.accounts.models import EntityRole, User, UserStatus
from dinamis.core import dates
from dinamis.core.db import utcnow
from dinamis.core.errors import Conflict, Forbidden, NotFound, ServiceError
from dinamis.core.web import external_url
from dinamis.extensions import db
from dinamis.membership import audit
from dinamis.membership.members import mail_managers
from dinamis.membership.models import Entity, EntityChange, EntityStatus
from dinamis.membership.permissions import can_name_deputies, can_review_memberships
from dinamis.membership.service import professional_email, siret_is_valid
from dinamis.quota import service as quota

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


def update_details(actor: User, entity: Entity, values: dict[str, str]) -> EntityChange | None:
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
        accounts.mail_user(staff, "entity_change", entity=entity, change=change)
    return change


def pending_changes() -> list[EntityChange]:
    return list(
        db.session.scalars(
            select(EntityChange).where(EntityChange.status == "pending").order_by(EntityChange.id)
        )
    )


def decide_change(actor: User, change: EntityChange, approve: bool, reason: str = "") -> None:
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


REMINDERS = (60, 15)


def remind(today: dt.date | None = None) -> list[tuple[Entity, int]]:
    """Mail the Referent and deputies 60 and 15 days before expiry (once each); expire the past.

    Run daily by `dinamis membership remind`.
    """
    today = today or dates.today()
    sent: list[tuple[Entity, int]] = []
    entities = db.session.scalars(
        select(Entity).where(
            Entity.membership_end.is_not(None), Entity.status == EntityStatus.ACTIVE
        )
    ).all()
    for entity in entities:
        assert entity.membership_end is not None
        left = (entity.membership_end - today).days
        if left < 0:
            entity.status = EntityStatus.EXPIRED
            audit.record(None, "membership.expired", entity, entity_id=entity.id)
            continue
        due = [d for d in REMINDERS if left <= d and (entity.last_reminder_days or 999) > d]
        if not due:
            continue
        days = min(due)
        entity.last_reminder_days = days
        mail_managers(entity.id, "membership_reminder", entity=entity, days=left)
        sent.append((entity, days))
    db.session.flush()
    return sent


def request_renewal(actor: User, entity: Entity) -> None:
    """The Referent asks staff to renew the membership."""
    if not can_name_deputies(actor, entity.id):
        raise Forbidden(_("Only the Referent asks for a renewal."))
    if entity.renewal_requested_at is not None:
        raise Conflict(_("A renewal was already requested; the Dinamis team will answer."))
    entity.renewal_requested_at = utcnow()
    db.session.flush()
    audit.record(actor, "membership.renewal_requested", entity, entity_id=entity.id)
    for staff in accounts.active_staff():
        accounts.mail_user(staff, "membership_renewal", entity=entity)


def renew(actor: User, entity: Entity, today: dt.date | None = None) -> None:
    """Staff renew for the configured number of years, from the day after the current
    end (or from today once it has passed)."""
    if not can_review_memberships(actor):
        raise Forbidden(_("Only staff renew memberships."))
    years = config.current().membership_years
    today = today or dates.today()
    ended = entity.membership_end
    start = max(ended + dt.timedelta(days=1), today) if ended else today
    entity.membership_end = dates.span_end(start, years)
    entity.renewal_requested_at = None
    entity.last_reminder_days = None
    reactivated = entity.status == EntityStatus.EXPIRED
    if reactivated:
        entity.status = EntityStatus.ACTIVE
    db.session.flush()
    if reactivated:  # active again: its allowances for the running periods, if not yet granted
        quota.open_for_entity(entity, today)
    audit.record(
        actor, "membership.renewed", entity, entity_id=entity.id, until=entity.membership_end
    )


def offer_handover(actor: User, entity: Entity, user_id: int) -> User:
    """The Referent names an active member to take over; that member must accept."""
    if not can_name_deputies(actor, entity.id):
        raise Forbidden(_("Only the Referent hands the role over."))
    successor = db.session.get(User, user_id)
    if successor is None or successor.entity_id != entity.id:
        raise NotFound(_("This person is not a member of your entity."))
    if successor.id == actor.id or successor.status != UserStatus.ACTIVE:
        raise Conflict(_("Choose another active member."))
    entity.handover_to_id = successor.id
    db.session.flush()
    audit.record(
        actor, "referent.handover_offered", entity, entity_id=entity.id, to=successor.email
    )
    accounts.mail_user(
        successor, "referent_handover", entity=entity, link=external_url("referent.entity_space")
    )
    return successor


def accept_handover(actor: User, entity: Entity) -> None:
    """The named member becomes the Referent; the former Referent becomes a deputy."""
    if entity.handover_to_id is None or entity.handover_to_id != actor.id:
        raise Forbidden(_("No hand-over is waiting for you."))
    former = db.session.scalar(
        select(User).where(User.entity_id == entity.id, User.entity_role == EntityRole.REFERENT)
    )
    if former is not None:
        former.entity_role = EntityRole.DEPUTY
        db.session.flush()  # the one-Referent index sees the change before the next one
    actor.entity_role = EntityRole.REFERENT
    entity.handover_to_id = None
    db.session.flush()
    audit.record(
        actor,
        "referent.handover_accepted",
        entity,
        entity_id=entity.id,
        former=former.email if former else "",
    )
