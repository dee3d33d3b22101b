"""Accounts: creation, authentication, passwords and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload, load_only

from dinamis import config
from dinamis.accounts.models import ApiToken, EntityRole, Role, User, UserStatus, new_session_token
from dinamis.accounts.permissions import can_manage_token
from dinamis.core.columns import values_of
from dinamis.core.db import utcnow
from dinamis.core.errors import Conflict, Forbidden, NotFound, ServiceError
from dinamis.core.mail import queue_mail
from dinamis.core.web import external_url
from dinamis.extensions import db
from dinamis.membership.models import Entity

_STRONG = PasswordHasher()  # argon2id with the library's recommended cost
# The test suite hashes hundreds of passwords: it uses argon2id with the
# lowest cost, so that tests stay fast while exercising the same code.
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _hasher() -> PasswordHasher:
    if has_app_context() and config.current().env == "test":
        return _CHEAP
    return _STRONG


# Verified when the e-mail is unknown, so that a wrong e-mail costs as much
# time as a wrong password and timing tells nothing.
_DUMMY_HASH = _STRONG.hash(secrets.token_urlsafe(16))

MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "dnm_"  # noqa: S105 - a public prefix, not a secret
RESET_SALT = "dinamis.password-reset"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password_strength(password: str) -> None:
    """Refuse passwords that are too short or too long for a clear message."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(
            _("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            fields={"password": _("Too short.")},
        )
    if len(password) > 200:
        raise ServiceError(
            _("The password must have at most 200 characters."),
            fields={"password": _("Too long.")},
        )


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(
    *,
    email: str,
    first_name: str,
    last_name: str,
    password: str | None,
    role: str = Role.USER,
    entity: Entity | None = None,
    entity_role: str | None = None,
    language: str = "fr",
    status: str = UserStatus.ACTIVE,
) -> User:
    """Create an account. Staff need no entity; everyone else belongs to one."""
    email = normalise_email(email)
    if role not in values_of(Role):
        raise ServiceError(_("Unknown role: %(role)s.", role=role))
    if role == Role.USER and entity is None:
        raise ServiceError(_("A user must belong to an entity."), fields={"entity": _("Required.")})
    if get_user_by_email(email) is not None:
        raise Conflict(_("An account already exists with this e-mail address."))
    if password is not None:
        check_password_strength(password)
    if entity is not None and entity_role is None:
        entity_role = EntityRole.MEMBER
    user = User(
        email=email,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        password_hash=hash_password(password) if password else None,
        role=role,
        entity=entity,
        entity_role=entity_role,
        language=language,
        status=status,
        password_changed_at=utcnow() if password else None,
    )
    db.session.add(user)
    db.session.flush()
    return user


def active_staff() -> list[User]:
    """Every active staff account (to notify, or to assign work to)."""
    return list(
        db.session.scalars(
            select(User).where(User.role == Role.STAFF, User.status == UserStatus.ACTIVE)
        )
    )


def mail_user(user: User, template: str, **context: Any) -> None:
    """Queue `templates/mail/<template>` to an account holder, in their language; the
    template sees them as `user`."""
    queue_mail(user.email, template, language=user.language, user=user, **context)


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None.

    Says nothing about which of the two was wrong, and takes the same time
    whether the e-mail exists or not.
    """
    user = get_user_by_email(email)
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher().verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active or stored is _DUMMY_HASH:
        return None
    if _hasher().check_needs_rehash(stored):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.flush()
    return user


def end_sessions(user: User) -> None:
    """End every session of the user on the server (sign-out, password, suspension).

    A session cookie names the user by this token, which the user loader looks
    up: once rotated, every cookie issued before, copied or not, stops working.
    """
    user.session_token = new_session_token()
    db.session.flush()


def _set_password(user: User, password: str) -> None:
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    # Ends every other session and invalidates outstanding reset links.
    end_sessions(user)


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change the user's own password after checking the current one."""
    try:
        _hasher().verify(user.password_hash or _DUMMY_HASH, current_password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise ServiceError(
            _("The current password is wrong."),
            fields={"current_password": _("Wrong password.")},
        ) from None
    _set_password(user, new_password)


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def _reset_fingerprint(user: User) -> str:
    # Changes with the password (and the session token), which makes a link
    # single-use: once it has served, it no longer matches.
    material = f"{user.password_hash or ''}|{user.session_token}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def make_reset_token(user: User) -> str:
    return _reset_serializer().dumps({"u": user.id, "f": _reset_fingerprint(user)})


def request_password_reset(email: str) -> None:
    """Mail a reset link if an active account has this e-mail; say nothing either way."""
    user = get_user_by_email(email)
    if user is None or not user.is_active:
        return
    base = config.current().base_url
    token = make_reset_token(user)
    max_age = config.current().password_reset_max_age
    mail_user(user, "password_reset", link=f"{base}/reset-password/{token}", minutes=max_age // 60)


def user_for_reset_token(token: str) -> User:
    """The user a reset link belongs to, or a clear refusal."""
    max_age = config.current().password_reset_max_age
    try:
        data = _reset_serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise ServiceError(_("This link has expired. Please ask for a new one.")) from None
    except BadSignature:
        raise ServiceError(_("This link is not valid. Please ask for a new one.")) from None
    user = db.session.get(User, data.get("u")) if isinstance(data, dict) else None
    if user is None or not user.is_active or data.get("f") != _reset_fingerprint(user):
        raise ServiceError(
            _("This link has already been used or is no longer valid. Please ask for a new one.")
        )
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password through a reset link; the link then stops working."""
    user = user_for_reset_token(token)
    _set_password(user, new_password)
    mail_user(user, "password_changed")
    return user


def set_language(user: User, language: str) -> None:
    if language not in ("fr", "en"):
        raise ServiceError(_("Unknown language."))
    user.language = language
    db.session.flush()


def update_profile(user: User, *, first_name: str, last_name: str, language: str) -> None:
    """Change the user's own name and interface language."""
    user.first_name = first_name.strip()
    user.last_name = last_name.strip()
    set_language(user, language)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(user: User, name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """Create a personal token living `days` days (the configured default when None);
    the clear token is returned once and never stored."""
    settings = config.current()
    name = name.strip()
    if not name:
        raise ServiceError(_("Give the token a name."), fields={"name": _("Required.")})
    days = settings.token_default_days if days is None else days
    if not 1 <= days <= settings.token_max_days:
        raise ServiceError(
            _("A token lives from 1 to %(n)d days.", n=settings.token_max_days),
            fields={"days": _("From 1 to %(n)d days.", n=settings.token_max_days)},
        )
    active = sum(1 for t in user.tokens if t.is_active)
    if active >= 20:
        raise ServiceError(_("You already have 20 active tokens; revoke one first."))
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name[:100],
        prefix=clear[:12],
        token_hash=_digest(clear),
        expires_at=utcnow() + dt.timedelta(days=days),
    )
    db.session.add(token)
    db.session.flush()
    return token, clear


def revoke_api_token(user: User, token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(_("This token does not exist."))
    if not can_manage_token(user, token):
        raise Forbidden(_("This token is not yours."))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
    return token


TOKEN_TOUCH_INTERVAL = dt.timedelta(minutes=1)
# One query: the token, its user and the user's entity (User.entity is joined).
# Built once: every API request runs it, and building it cost more than its SQL.
# Of the token itself only what is read here (its last use; the rest is checked in
# SQL): its seven other columns cost ~80,000 instructions a request to load (callgrind).
_TOKEN_HOLDER = (
    select(ApiToken)
    .options(load_only(ApiToken.last_used_at), joinedload(ApiToken.user))
    .where(
        ApiToken.token_hash == bindparam("digest"),
        ApiToken.revoked_at.is_(None),
        ApiToken.expires_at > bindparam("now"),
    )
)


def user_for_api_token(clear: str) -> User | None:
    """The active user holding this active token, or None."""
    if not clear.startswith(TOKEN_PREFIX):
        return None
    now = dt.datetime.now(dt.UTC)
    token = db.session.scalar(_TOKEN_HOLDER, {"digest": _digest(clear), "now": now})
    if token is None or not token.user.is_active:
        return None
    # At most once a minute: writing it on every call would lock the token's row until
    # each request commits, and serialise the requests of one client.
    if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_INTERVAL:
        token.last_used_at = now
    return token.user


def remind_expiring_tokens(now: dt.datetime | None = None) -> list[ApiToken]:
    """Tell each owner, once, that a token of theirs expires within
    `DINAMIS_TOKEN_REMINDER_DAYS` days. Run daily (`dinamis tokens remind`)."""
    now = now or utcnow()
    days = config.current().token_reminder_days
    due = list(
        db.session.scalars(
            select(ApiToken)
            .join(ApiToken.user)
            .where(
                ApiToken.revoked_at.is_(None),
                ApiToken.reminded_at.is_(None),
                ApiToken.expires_at > now,
                ApiToken.expires_at <= now + dt.timedelta(days=days),
                User.status == UserStatus.ACTIVE,
            )
            .order_by(ApiToken.expires_at)
        )
    )
    for token in due:
        token.reminded_at = now
        mail_user(
            token.user,
            "token_expiring",
            token=token,
            link=external_url("accounts.profile") + "#tokens",
        )
    db.session.flush()
    return due
