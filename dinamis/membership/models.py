"""Entities (member organisations) and the profiles that set their rights; membership
requests, account requests, legal documents, certificates, audit events, entity changes."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.core.columns import CreatedAt, EntityRef, IntPk, PersonName, UserRef, choice, part_of
from dinamis.core.db import Base

if TYPE_CHECKING:
    from dinamis.accounts.models import User


import secrets
from typing import Any

from sqlalchemy import LargeBinary
from sqlalchemy.dialects.postgresql import JSONB

from dinamis.core.i18n import current_language


class Profile(Base):
    """A class of members with the same rights (French research, public actors...)."""

    __tablename__ = "profiles"

    id: Mapped[IntPk]
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))

    def name(self, language: str) -> str:
        return self.name_fr if language == "fr" else self.name_en


EntityStatus = StrEnum("EntityStatus", "ACTIVE SUSPENDED EXPIRED")


class Entity(Base):
    """An organisation that has joined the scheme."""

    __tablename__ = "entities"

    id: Mapped[IntPk]
    name: Mapped[str] = mapped_column(String(300))
    acronym: Mapped[str | None] = mapped_column(String(50))
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="RESTRICT"))
    status: Mapped[str] = choice(EntityStatus, 20, default=EntityStatus.ACTIVE)
    national_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    national_id_type: Mapped[str | None] = mapped_column(String(20))  # "siret", "other"
    country: Mapped[str] = mapped_column(String(2), default="FR")
    address: Mapped[str | None] = mapped_column(Text)
    sector: Mapped[str | None] = mapped_column(String(50))
    parent_bodies: Mapped[str | None] = mapped_column(String(500))
    website: Mapped[str | None] = mapped_column(String(300))
    email_domains: Mapped[list[str]] = mapped_column(ARRAY(String(253)), default=list)
    legal_rep_name: Mapped[str | None] = mapped_column(String(200))
    legal_rep_function: Mapped[str | None] = mapped_column(String(200))
    legal_rep_email: Mapped[str | None] = mapped_column(String(254))
    membership_start: Mapped[dt.date | None]
    membership_end: Mapped[dt.date | None]
    renewal_requested_at: Mapped[dt.datetime | None]
    # The last expiry reminder sent (60, then 15 days before); reset on renewal.
    last_reminder_days: Mapped[int | None]
    # A Referent hand-over waiting for the named member to accept it.
    handover_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True)
    )
    created_at: Mapped[CreatedAt]

    profile: Mapped[Profile] = relationship(lazy="joined")
    members: Mapped[list[User]] = relationship(
        back_populates="entity", foreign_keys="User.entity_id"
    )

    @property
    def is_active(self) -> bool:
        return self.status == EntityStatus.ACTIVE

    def can_order_on(self, day: dt.date) -> bool:
        """Active, and within its membership period when it has one."""
        if self.status != EntityStatus.ACTIVE:
            return False
        return self.membership_end is None or day <= self.membership_end


# DETAILS_TO_GIVE: the e-mail address confirmed, the form is next.
RequestStatus = StrEnum(
    "RequestStatus",
    "EMAIL_TO_CONFIRM DETAILS_TO_GIVE AWAITING_LEGAL_REP AWAITING_REVIEW"
    " APPROVED REJECTED WITHDRAWN",
)
# A request still under way.
OPEN_REQUEST_STATUSES = (
    RequestStatus.EMAIL_TO_CONFIRM,
    RequestStatus.DETAILS_TO_GIVE,
    RequestStatus.AWAITING_LEGAL_REP,
    RequestStatus.AWAITING_REVIEW,
)


def new_code() -> str:
    return secrets.token_urlsafe(16)


class LegalDocument(Base):
    """A versioned document to accept: the Charter, a product licence."""

    __tablename__ = "legal_documents"
    __table_args__ = (CheckConstraint("kind IN ('charter', 'licence')", name="kind"),)

    id: Mapped[IntPk]
    kind: Mapped[str] = mapped_column(String(10))
    code: Mapped[str] = mapped_column(String(50))
    version: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))  # English
    body: Mapped[str] = mapped_column(Text)
    title_fr: Mapped[str | None] = mapped_column(String(200))
    body_fr: Mapped[str | None] = mapped_column(Text)
    current: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[CreatedAt]

    @property
    def label(self) -> str:
        return f"{self.code} v{self.version}"

    @property
    def local_title(self) -> str:
        """The title in the reader's language (English while no French is given)."""
        return (self.title_fr or self.title) if current_language() == "fr" else self.title

    @property
    def local_body(self) -> str:
        return (self.body_fr or self.body) if current_language() == "fr" else self.body


def document_titles(labels: list[str]) -> list[str]:
    """Accepted documents, recorded as "code vX", by their titles in the reader's
    language with their version (the record itself keeps the codes)."""
    from sqlalchemy import select

    from dinamis.extensions import db

    titles = []
    for recorded in labels:
        code, _sep, version = recorded.rpartition(" v")
        document = (
            db.session.scalar(
                select(LegalDocument).where(
                    LegalDocument.code == code, LegalDocument.version == version
                )
            )
            if code
            else None
        )
        titles.append(f"{document.local_title} (v{version})" if document else recorded)
    return titles


class MembershipRequest(Base):
    """An organisation's application, from the future Referent's e-mail to staff's decision."""

    __tablename__ = "membership_requests"

    id: Mapped[IntPk]
    status: Mapped[str] = choice(
        RequestStatus, 20, default=RequestStatus.EMAIL_TO_CONFIRM, index=True
    )
    referent_email: Mapped[str] = mapped_column(String(254), index=True)
    referent_first_name: Mapped[str] = mapped_column(String(100), default="")
    referent_last_name: Mapped[str] = mapped_column(String(100), default="")
    language: Mapped[str] = mapped_column(String(2), default="fr")
    email_confirmed_at: Mapped[dt.datetime | None]
    entity_name: Mapped[str | None] = mapped_column(String(300))
    acronym: Mapped[str | None] = mapped_column(String(50))
    national_id: Mapped[str | None] = mapped_column(String(40))
    national_id_type: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    address: Mapped[str | None] = mapped_column(Text)
    sector: Mapped[str | None] = mapped_column(String(50))
    parent_bodies: Mapped[str | None] = mapped_column(String(500))
    website: Mapped[str | None] = mapped_column(String(300))
    legal_rep_name: Mapped[str | None] = mapped_column(String(200))
    legal_rep_function: Mapped[str | None] = mapped_column(String(200))
    legal_rep_email: Mapped[str | None] = mapped_column(String(254))
    submitted_at: Mapped[dt.datetime | None]
    legal_rep_accepted_at: Mapped[dt.datetime | None]
    legal_rep_ip: Mapped[str | None] = mapped_column(String(64))
    legal_rep_user_agent: Mapped[str | None] = mapped_column(String(500))
    accepted_documents: Mapped[list[str]] = mapped_column(ARRAY(String(80)), default=list)
    decided_by_id: Mapped[UserRef | None]
    decided_at: Mapped[dt.datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("profiles.id", ondelete="RESTRICT"))
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id", ondelete="RESTRICT"))
    created_at: Mapped[CreatedAt]

    profile: Mapped[Profile | None] = relationship()
    entity: Mapped[Entity | None] = relationship()

    @property
    def referent_name(self) -> str:
        return f"{self.referent_first_name} {self.referent_last_name}".strip()


# PENDING: awaiting the Referent.
AccountStatus = StrEnum("AccountStatus", "EMAIL_TO_CONFIRM PENDING APPROVED REFUSED")


class AccountRequest(PersonName, Base):
    """A person asks to join an existing entity; its Referent decides."""

    __tablename__ = "account_requests"

    id: Mapped[IntPk]
    status: Mapped[str] = choice(AccountStatus, 20, default=AccountStatus.EMAIL_TO_CONFIRM)
    entity_id: Mapped[int] = part_of("entities")
    email: Mapped[str] = mapped_column(String(254), index=True)
    job_title: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    domain_verified: Mapped[bool] = mapped_column(default=False)
    decided_by_id: Mapped[UserRef | None]
    decided_at: Mapped[dt.datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[UserRef | None]
    created_at: Mapped[CreatedAt]

    entity: Mapped[Entity] = relationship()


class Certificate(Base):
    """The time-stamped membership certificate, checkable at /verify/<code>."""

    __tablename__ = "certificates"

    id: Mapped[IntPk]
    code: Mapped[str] = mapped_column(String(40), unique=True, default=new_code)
    entity_id: Mapped[EntityRef]
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("membership_requests.id", ondelete="RESTRICT")
    )
    issued_at: Mapped[CreatedAt]
    valid_until: Mapped[dt.date]
    documents: Mapped[list[str]] = mapped_column(ARRAY(String(80)), default=list)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)

    entity: Mapped[Entity] = relationship()


class AuditEvent(Base):
    """A decision: who did what to which object, when, and why."""

    __tablename__ = "audit_events"

    id: Mapped[IntPk]
    actor_id: Mapped[UserRef | None]
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None]
    entity_id: Mapped[EntityRef | None]
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[CreatedAt]


class EntityChange(Base):
    """A change of an entity's legal data asked by its Referent, for staff to review."""

    __tablename__ = "entity_changes"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
    )

    id: Mapped[IntPk]
    entity_id: Mapped[int] = part_of("entities")
    requested_by_id: Mapped[UserRef]
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by_id: Mapped[UserRef | None]
    decided_at: Mapped[dt.datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]

    entity: Mapped[Entity] = relationship()
