"""Membership requests: e-mail check, details, the Legal Representative, staff's decision.

The states follow RequestStatus in order; a link e-mailed for one state stops
working once the request has moved on. Approval creates the entity, its
membership period and its Referent's account, and issues the certificate.

Also here: the checks on what applicants type (SIRET numbers, professional e-mail
addresses) and the membership certificate. The other rules of the domain:
members.py (account requests, the members of an entity), entities.py (an entity's
details, renewal and the Referent's hand-over), audit.py (the audit trail).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from dinamis import config
from dinamis.accounts import service as accounts
from dinamis.accounts.models import EntityRole, User
from dinamis.core import dates
from dinamis.core.db import utcnow
from dinamis.core.errors import Conflict, Forbidden, NotFound, ServiceError
from dinamis.core.mail import Attachment, queue_mail
from dinamis.core.pdf import render_pdf
from dinamis.core.validation import normalise_email_address
from dinamis.core.web import external_url
from dinamis.extensions import db
from dinamis.membership import audit, tokens
from dinamis.membership.models import (
    OPEN_REQUEST_STATUSES,
    Certificate,
    Entity,
    LegalDocument,
    MembershipRequest,
    Profile,
    RequestStatus,
    new_code,
)
from dinamis.membership.permissions import can_review_memberships
from dinamis.quota import service as quota

LA_POSTE_SIREN = "356000000"


def siret_is_valid(value: str) -> bool:
    """A SIRET is 14 digits passing the Luhn check (La Poste's establishments: digit sum % 5)."""
    digits = value.replace(" ", "")
    if len(digits) != 14 or not digits.isdigit():
        return False
    if digits.startswith(LA_POSTE_SIREN) and digits != LA_POSTE_SIREN + "00048":
        return sum(int(d) for d in digits) % 5 == 0
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = int(char)
        if index % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def professional_email(value: str, field: str = "email") -> str:
    """The normalised address, refused when malformed or on a free webmail domain."""
    try:
        email = normalise_email_address(value)
    except ValueError:
        raise ServiceError(
            _("This is not a valid e-mail address."), fields={field: _("Not an e-mail address.")}
        ) from None
    domain = email.rsplit("@", 1)[1]
    if domain in config.current().webmail_domains:
        raise ServiceError(
            _(
                "Use your professional e-mail address: addresses at %(domain)s are not accepted.",
                domain=domain,
            ),
            fields={field: _("Professional address needed.")},
        )
    return email


EMAIL, LEGAL = "membership-email", "membership-legal"


def _request(data: dict[str, Any]) -> MembershipRequest:
    membership_request = db.session.get(MembershipRequest, data["id"])
    if membership_request is None:
        raise NotFound(_("This request no longer exists."))
    return membership_request


def check_start(email: str, first_name: str, last_name: str) -> dict[str, str]:
    """Every field's problem at once (field name -> what to fix); empty when all are right."""
    errors: dict[str, str] = {}
    try:
        professional_email(email)
    except ServiceError as error:
        errors.update(error.fields)
    if not first_name.strip():
        errors["first_name"] = _("Give your first name.")
    if not last_name.strip():
        errors["last_name"] = _("Give your last name.")
    return errors


def start(email: str, first_name: str, last_name: str, language: str = "fr") -> MembershipRequest:
    """Step 1: the future Referent gives their professional e-mail; a link confirms it."""
    errors = check_start(email, first_name, last_name)
    if errors:
        raise ServiceError(_("Some fields need your attention."), fields=errors)
    email = professional_email(email)
    if accounts.get_user_by_email(email) is not None:
        raise Conflict(
            _("An account already exists with this address: sign in, or reset your password.")
        )
    open_request = db.session.scalar(
        select(MembershipRequest).where(
            MembershipRequest.referent_email == email,
            MembershipRequest.status.in_(OPEN_REQUEST_STATUSES),
        )
    )
    if open_request is not None:
        raise Conflict(
            _("A membership request with this address is already under way; follow its e-mails.")
        )
    membership_request = MembershipRequest(
        referent_email=email,
        referent_first_name=first_name.strip()[:100],
        referent_last_name=last_name.strip()[:100],
        language=language,
    )
    db.session.add(membership_request)
    db.session.flush()
    _mail_about(
        membership_request,
        email,
        "membership_confirm",
        link=external_url(
            "membership.details",
            token=tokens.make(EMAIL, membership_request.id, membership_request.status),
        ),
    )
    return membership_request


def _mail_about(
    membership_request: MembershipRequest, to: str, template: str, **context: Any
) -> None:
    """Mail a person named in a membership request (its Referent, its Legal
    Representative), in the language the request was made in."""
    queue_mail(
        to,
        template,
        language=membership_request.language,
        membership_request=membership_request,
        **context,
    )


def open_for_details(token: str) -> MembershipRequest:
    """Step 2: the confirmation link; the e-mail is confirmed the first time it is opened."""
    data = tokens.read(EMAIL, token, max_age=3 * tokens.DAY)
    membership_request = _request(data)
    if membership_request.status == RequestStatus.EMAIL_TO_CONFIRM:
        tokens.check_state(data, RequestStatus.EMAIL_TO_CONFIRM)
        membership_request.status = RequestStatus.DETAILS_TO_GIVE
        membership_request.email_confirmed_at = utcnow()
        db.session.flush()
    elif membership_request.status != RequestStatus.DETAILS_TO_GIVE:
        raise ServiceError(_("This link has already been used."))
    return membership_request


def withdraw(token: str) -> MembershipRequest:
    """The future Referent withdraws their request (from the link they were sent)."""
    membership_request = open_for_details(token)
    membership_request.status = RequestStatus.WITHDRAWN
    db.session.flush()
    audit.record(
        None, "membership.withdrawn", membership_request, by=membership_request.referent_email
    )
    return membership_request


@dataclass(frozen=True)
class Details:
    entity_name: str
    acronym: str
    national_id: str
    national_id_type: str
    country: str
    address: str
    sector: str
    parent_bodies: str
    website: str
    legal_rep_name: str
    legal_rep_function: str
    legal_rep_email: str


def check_details(details: Details) -> dict[str, str]:
    """Every field's problem at once (field name -> what to fix); empty when all are right."""
    errors: dict[str, str] = {}
    try:
        professional_email(details.legal_rep_email, "legal_rep_email")
    except ServiceError as error:
        errors.update(error.fields)
    if details.country == "FR" and details.national_id_type == "siret":
        if not siret_is_valid(details.national_id):
            errors["national_id"] = _("This SIRET number is not valid (14 digits, checksum).")
    elif not details.national_id.strip():
        errors["national_id"] = _("Required.")
    if len(details.country) != 2 or not details.country.isalpha():
        errors["country"] = _("A two-letter country code (FR, DE, ...).")
    for name in ("entity_name", "address", "sector", "legal_rep_name", "legal_rep_function"):
        if not getattr(details, name).strip():
            errors[name] = _("Required.")
    return errors


def submit_details(token: str, details: Details) -> MembershipRequest:
    """Step 3: the entity and its Legal Representative; the LR is mailed the documents."""
    membership_request = open_for_details(token)
    errors = check_details(details)
    if errors:
        raise ServiceError(_("Some fields need your attention."), fields=errors)
    legal_email = professional_email(details.legal_rep_email, "legal_rep_email")
    national_id = details.national_id.replace(" ", "").upper()
    existing = db.session.scalar(
        select(Entity).where(
            (Entity.national_id == national_id)
            | (
                (func.lower(Entity.name) == details.entity_name.strip().lower())
                & (Entity.country == details.country.upper())
            )
        )
    )
    if existing is not None:
        raise Conflict(
            _(
                "%(name)s is already a member: ask for an account in it instead.",
                name=existing.name,
            ),
            fields={"entity_name": _("Already a member.")},
        )
    for name in Details.__dataclass_fields__:
        value = getattr(details, name).strip()
        setattr(membership_request, name, value or None)
    membership_request.national_id = national_id
    membership_request.country = details.country.upper()
    membership_request.legal_rep_email = legal_email
    membership_request.status = RequestStatus.AWAITING_LEGAL_REP
    membership_request.submitted_at = utcnow()
    db.session.flush()
    _mail_legal_rep(membership_request)
    return membership_request


def current_documents() -> list[LegalDocument]:
    return list(
        db.session.scalars(
            select(LegalDocument)
            .where(LegalDocument.current.is_(True))
            .order_by(LegalDocument.kind)
        )
    )


def _mail_legal_rep(membership_request: MembershipRequest) -> None:
    documents = current_documents()
    _mail_about(
        membership_request,
        membership_request.legal_rep_email or "",
        "membership_legal_rep",
        documents=documents,
        link=external_url(
            "membership.legal",
            token=tokens.make(LEGAL, membership_request.id, membership_request.status),
        ),
        attachments=[
            Attachment(f"{d.code}-v{d.version}.txt", "text/plain", d.body.encode())
            for d in documents
        ],
    )


def for_legal_rep(token: str) -> MembershipRequest:
    data = tokens.read(LEGAL, token, max_age=30 * tokens.DAY)
    membership_request = _request(data)
    tokens.check_state(data, membership_request.status)
    if membership_request.status != RequestStatus.AWAITING_LEGAL_REP:
        raise ServiceError(_("This link has already been used."))
    return membership_request


def legal_rep_accepts(
    token: str,
    *,
    name: str,
    function: str,
    accepted: list[int],
    ip: str,
    user_agent: str,
) -> MembershipRequest:
    """Step 4: the LR confirms (or corrects) their details and accepts every current document."""
    membership_request = for_legal_rep(token)
    documents = current_documents()
    if not documents or {d.id for d in documents} - set(accepted):
        raise ServiceError(
            _("Accept the Charter and every licence to go on."),
            fields={"documents": _("Every document must be accepted.")},
        )
    if not name.strip() or not function.strip():
        raise ServiceError(_("Give your name and function."))
    membership_request.legal_rep_name = name.strip()[:200]
    membership_request.legal_rep_function = function.strip()[:200]
    membership_request.accepted_documents = [d.label for d in documents]
    membership_request.legal_rep_accepted_at = utcnow()
    membership_request.legal_rep_ip = ip[:64]
    membership_request.legal_rep_user_agent = user_agent[:500]
    membership_request.status = RequestStatus.AWAITING_REVIEW
    db.session.flush()
    audit.record(
        None,
        "membership.legal_rep_accepted",
        membership_request,
        data_versions=membership_request.accepted_documents,
    )
    return membership_request


def queue(status: str | None = None) -> list[MembershipRequest]:
    query = select(MembershipRequest).order_by(MembershipRequest.id.desc()).limit(500)
    if status:
        query = query.where(MembershipRequest.status == status)
    return list(db.session.scalars(query))


def approve(
    actor: User,
    membership_request: MembershipRequest,
    profile_id: int,
    today: dt.date | None = None,
) -> Entity:
    """Staff approve: the entity, its membership period, its Referent, the certificate."""
    if not can_review_memberships(actor):
        raise Forbidden(_("Only staff approve memberships."))
    if membership_request.status != RequestStatus.AWAITING_REVIEW:
        raise Conflict(_("Only a request awaiting review can be approved."))
    profile = db.session.get(Profile, profile_id)
    if profile is None:
        raise ServiceError(_("Choose a profile."), fields={"profile": _("Unknown profile.")})
    today = today or dates.today()
    years = config.current().membership_years
    entity = Entity(
        name=membership_request.entity_name or "",
        acronym=membership_request.acronym,
        profile=profile,
        national_id=membership_request.national_id,
        national_id_type=membership_request.national_id_type,
        country=membership_request.country or "FR",
        address=membership_request.address,
        sector=membership_request.sector,
        parent_bodies=membership_request.parent_bodies,
        website=membership_request.website,
        email_domains=[membership_request.referent_email.rsplit("@", 1)[1]],
        legal_rep_name=membership_request.legal_rep_name,
        legal_rep_function=membership_request.legal_rep_function,
        legal_rep_email=membership_request.legal_rep_email,
        membership_start=today,
        membership_end=dates.span_end(today, years),
    )
    db.session.add(entity)
    db.session.flush()
    referent = accounts.create_user(
        email=membership_request.referent_email,
        first_name=membership_request.referent_first_name,
        last_name=membership_request.referent_last_name,
        password=None,
        entity=entity,
        entity_role=EntityRole.REFERENT,
        language=membership_request.language,
    )
    membership_request.status = RequestStatus.APPROVED
    membership_request.profile_id, membership_request.entity_id = profile.id, entity.id
    membership_request.decided_by_id, membership_request.decided_at = actor.id, utcnow()
    db.session.flush()
    certificate = issue_certificate(entity, membership_request, referent)
    audit.record(
        actor, "membership.approved", membership_request, entity_id=entity.id, profile=profile.code
    )
    # Its free allowance for the running periods, now (prorated or full: see quota).
    quota.open_for_entity(entity, today)
    pdf = Attachment(
        f"dinamis-certificate-{certificate.code}.pdf", "application/pdf", certificate.pdf
    )
    set_password = external_url(
        "accounts.reset_password", token=accounts.make_reset_token(referent)
    )
    _mail_about(
        membership_request,
        referent.email,
        "membership_approved",
        entity=entity,
        link=set_password,
        attachments=[pdf],
    )
    _mail_about(
        membership_request,
        membership_request.legal_rep_email or "",
        "membership_certificate",
        entity=entity,
        certificate=certificate,
        verify=external_url("membership.verify", code=certificate.code),
        attachments=[pdf],
    )
    return entity


def change_profile(
    actor: User, entity: Entity, profile_id: int, today: dt.date | None = None
) -> list[quota.ProfileAdjustment]:
    """Staff move an entity to another profile; its allowances follow (the difference).

    The running periods are first opened under the old profile (idempotent),
    then the difference between the two profiles' rules is posted as a
    recorded adjustment (see `quota.change_profile`).
    """
    if not can_review_memberships(actor):
        raise Forbidden(_("Only staff change an entity's profile."))
    profile = db.session.get(Profile, profile_id)
    if profile is None:
        raise ServiceError(_("Choose a profile."), fields={"profile": _("Unknown profile.")})
    if profile.id == entity.profile_id:
        raise ServiceError(
            _("%(name)s already has this profile.", name=entity.name),
            fields={"profile": _("Choose another profile.")},
        )
    today = today or dates.today()
    old = entity.profile
    quota.open_for_entity(entity, today)
    entity.profile = profile
    db.session.flush()
    event = audit.record(
        actor, "entity.profile_changed", entity, entity_id=entity.id, old=old.code, new=profile.code
    )
    return quota.change_profile(entity, old.id, today, f"{entity.id}:{event.id}", actor.id)


def reject(actor: User, membership_request: MembershipRequest, reason: str) -> None:
    """Staff reject with a reason, which is sent to the requester."""
    if not can_review_memberships(actor):
        raise Forbidden(_("Only staff reject memberships."))
    if membership_request.status != RequestStatus.AWAITING_REVIEW:
        raise Conflict(_("Only a request awaiting review can be rejected."))
    if not reason.strip():
        raise ServiceError(
            _("Give the reason for the rejection."), fields={"reason": _("Required.")}
        )
    membership_request.status = RequestStatus.REJECTED
    membership_request.decision_reason = reason.strip()
    membership_request.decided_by_id, membership_request.decided_at = actor.id, utcnow()
    db.session.flush()
    audit.record(
        actor, "membership.rejected", membership_request, reason=membership_request.decision_reason
    )
    _mail_about(membership_request, membership_request.referent_email, "membership_rejected")


def issue_certificate(
    entity: Entity, membership_request: MembershipRequest, referent: User
) -> Certificate:
    """Render and store the certificate of a newly approved entity."""
    code = new_code()
    issued = dt.datetime.now(dt.UTC)
    with force_locale(membership_request.language):
        pdf = render_pdf(
            "membership/certificate.html",
            entity=entity,
            membership_request=membership_request,
            referent=referent,
            code=code,
            issued=issued,
            verify=external_url("membership.verify", code=code),
        )
    certificate = Certificate(
        code=code,
        entity_id=entity.id,
        request_id=membership_request.id,
        issued_at=issued,
        valid_until=entity.membership_end or dates.local_day(issued),
        documents=list(membership_request.accepted_documents),
        pdf=pdf,
    )
    db.session.add(certificate)
    db.session.flush()
    return certificate


def certificate_by_code(code: str) -> Certificate | None:
    return db.session.scalar(select(Certificate).where(Certificate.code == code[:40]))


def latest_certificate(entity_id: int) -> Certificate | None:
    return db.session.scalar(
        select(Certificate)
        .where(Certificate.entity_id == entity_id)
        .order_by(Certificate.id.desc())
        .limit(1)
    )
