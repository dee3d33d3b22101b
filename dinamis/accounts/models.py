"""Individual accounts and their personal API tokens."""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum
from typing import TypeAlias

from flask_login import AnonymousUserMixin
from sqlalchemy import CheckConstraint, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.config import LANGUAGES
from dinamis.core.columns import CreatedAt, EntityRef, IntPk, OwnedByUser, PersonName, choice
from dinamis.core.db import Base
from dinamis.membership.models import Entity

Role = StrEnum("Role", "USER STAFF")
EntityRole = StrEnum("EntityRole", "MEMBER DEPUTY REFERENT")
# PENDING: awaiting the Referent's approval.
UserStatus = StrEnum("UserStatus", "PENDING ACTIVE SUSPENDED REMOVED")


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(PersonName, Base):
    """A person with a professional e-mail address."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint(
            "role = 'staff' OR (entity_id IS NOT NULL AND entity_role IS NOT NULL)",
            name="member_has_entity",
        ),
        # One Referent per entity; deputies are as many as the Referent names.
        Index(
            "uq_users_one_referent_per_entity",
            "entity_id",
            unique=True,
            postgresql_where=text("entity_role = 'referent' AND status <> 'removed'"),
        ),
    )

    id: Mapped[IntPk]
    email: Mapped[str] = mapped_column(String(254), unique=True)
    language: Mapped[str] = choice(LANGUAGES, 2, default="fr")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = choice(Role, 10, default=Role.USER)
    status: Mapped[str] = choice(UserStatus, 20, default=UserStatus.ACTIVE)
    entity_id: Mapped[EntityRef | None]
    entity_role: Mapped[str | None] = choice(EntityRole, 10)
    # Rotated on password change: every other session of the user ends.
    session_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_session_token)
    created_at: Mapped[CreatedAt]
    last_login_at: Mapped[dt.datetime | None]
    password_changed_at: Mapped[dt.datetime | None]

    entity: Mapped[Entity | None] = relationship(
        back_populates="members", lazy="joined", foreign_keys="User.entity_id"
    )
    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", order_by="ApiToken.created_at.desc()"
    )

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return self.session_token

    # Roles
    @property
    def is_staff(self) -> bool:
        return self.role == Role.STAFF

    @property
    def is_referent(self) -> bool:
        return self.entity_role == EntityRole.REFERENT

    @property
    def is_deputy(self) -> bool:
        return self.entity_role == EntityRole.DEPUTY

    @property
    def roles(self) -> list[str]:
        roles: list[str] = [Role.USER] if self.entity_id is not None else []
        if self.is_referent:
            roles.append("referent")
        if self.is_deputy:
            roles.append("deputy")
        if self.is_staff:
            roles.append(Role.STAFF)
        return roles


# Who acts in a request: a signed-in User, or Flask-Login's anonymous visitor
# (`current_user` before signing in, `api_user()` without a valid token).
Visitor: TypeAlias = User | AnonymousUserMixin


class ApiToken(Base):
    """A personal API token; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[IntPk]
    user_id: Mapped[OwnedByUser]
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[CreatedAt]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    # Chosen at creation (DINAMIS_TOKEN_DEFAULT_DAYS, at most DINAMIS_TOKEN_MAX_DAYS).
    expires_at: Mapped[dt.datetime]
    # When the owner was told it would expire soon (once).
    reminded_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= dt.datetime.now(dt.UTC)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired
