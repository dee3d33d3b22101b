"""Entities (member organisations) and the profiles that set their rights."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.core.db import Base

if TYPE_CHECKING:
    from dinamis.accounts.models import User


class Profile(Base):
    """A class of members with the same rights (French research, public actors...)."""

    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))

    def name(self, language: str) -> str:
        return self.name_fr if language == "fr" else self.name_en


class EntityStatus:
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    ALL = (ACTIVE, SUSPENDED, EXPIRED)


class Entity(Base):
    """An organisation that has joined the scheme."""

    __tablename__ = "entities"
    __table_args__ = (CheckConstraint(f"status IN {EntityStatus.ALL!r}", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    acronym: Mapped[str | None] = mapped_column(String(50))
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20), default=EntityStatus.ACTIVE)
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
    membership_start: Mapped[dt.date | None] = mapped_column(Date)
    membership_end: Mapped[dt.date | None] = mapped_column(Date)
    renewal_requested_at: Mapped[dt.datetime | None]
    # The last expiry reminder sent (60, then 15 days before); reset on renewal.
    last_reminder_days: Mapped[int | None]
    # A Referent hand-over waiting for the named member to accept it.
    handover_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True)
    )
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

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
