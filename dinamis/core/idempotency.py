"""One rule against doing a create twice: a key held in PostgreSQL, answered when repeated.

Two doors share it. The JSON API's Idempotency-Key header (`dinamis.api.idempotency`)
and the web forms' one-time token (`OnceToken` below, on every form that creates
something). Either way, the key's row is inserted in the request's own transaction
before the work is done, under a unique index: a second submission waits on the
index until the first one ends; if the first committed, the second finds what it
recorded and shows it instead of creating anything; if the first was refused
(rolled back), the key is free again and the corrected form can be sent.

A form token is signed with the app's secret and carries its time: it is
refused after FORM_TOKEN_HOURS (a page kept open for days, or restored from the
browser's history, must not create anything), and its row is deleted after that
time. A form posted without a token (an old script) is not protected but works.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from markupsafe import Markup, escape
from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, delete, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, mapped_column
from wtforms import HiddenField

from dinamis.accounts.models import User, Visitor
from dinamis.core.columns import CreatedAt, IntPk
from dinamis.core.db import Base, utcnow
from dinamis.core.errors import Conflict, ServiceError
from dinamis.extensions import db

FORM_TOKEN_HOURS = 24
FORM_PREFIX = "form:"


class IdempotencyKey(Base):
    """A create request made with a key: answered, not repeated, when sent again.

    API keys belong to their user (`user_id`, unique per user, never expire).
    Form tokens belong to the signed-in user, or to nobody on the public forms
    (joining, asking for an account, support): those are unique on their own.
    The row is written in the request's own transaction, so a refused request
    leaves no key behind.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),
        Index(
            "uq_idempotency_anonymous_key",
            "key",
            unique=True,
            postgresql_where="user_id IS NULL",
        ),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: Mapped[IntPk]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[dt.datetime | None]


def hold(
    user_id: int | None, key: str, fingerprint: str, expires_at: dt.datetime | None = None
) -> IdempotencyKey:
    """This request's row for `key`, or the row of the earlier request that used it.

    The caller tells them apart by `response`: None on its own fresh row. An
    earlier request still running makes this wait on the unique index, then
    see its row once it committed (or take the key if it was rolled back).
    """
    new_id = db.session.scalar(
        insert(IdempotencyKey)
        .values(user_id=user_id, key=key, fingerprint=fingerprint, expires_at=expires_at)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.id)
    )
    if new_id is not None:
        row = db.session.get(IdempotencyKey, new_id)
        assert row is not None
        return row
    owner = (
        IdempotencyKey.user_id.is_(None) if user_id is None else IdempotencyKey.user_id == user_id
    )
    earlier = db.session.scalar(select(IdempotencyKey).where(owner, IdempotencyKey.key == key))
    if earlier is None or earlier.response is None:  # cannot happen once the first committed
        raise Conflict(_("This request is still being processed. Please wait a moment."))
    return earlier


# -- the web forms' one-time token ------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="dinamis.form-once")


def new_token() -> str:
    """A fresh token for a form being shown (nothing is stored until it is sent)."""
    return str(_serializer().dumps(secrets.token_hex(16)))


class OnceToken(HiddenField):
    """The hidden one-time token of a form that creates something."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default=new_token, **kwargs)


@dataclass(frozen=True)
class Earlier:
    """What the first submission of a form created: its number and where to see it."""

    label: str
    url: str | None
    data: dict[str, Any]

    def message(self) -> Markup:
        """'This request was already submitted: T-000007' (a link when it has a page)."""
        shown = (
            Markup('<a href="{}">{}</a>').format(self.url, self.label)
            if self.url
            else escape(self.label)
        )
        return escape(_("This request was already submitted: %(what)s.")) % {"what": shown}


EXPIRED = _l("This form was open too long. Check it and send it again.")


@dataclass
class FormClaim:
    """A form submission holding its token until the request ends."""

    row: IdempotencyKey | None
    earlier: Earlier | None = None

    def record(self, label: str, url: str | None = None, **data: Any) -> None:
        """Keep what was created, for a resubmission of the same form to show."""
        if self.row is not None:
            self.row.response = {"label": label, "url": url, "data": data}
            self.row.status_code = 303
            db.session.flush()


def claim_form(token: str | None, scope: str, user: Visitor | None = None) -> FormClaim:
    """Hold a form's one-time token for this submission, or find what its first one made.

    `scope` names the form (a token of one form is not accepted on another).
    Refused (ServiceError on the field `once`) when the token is forged or too old.
    """
    if not token:
        return FormClaim(None)
    try:
        nonce = _serializer().loads(token, max_age=FORM_TOKEN_HOURS * 3600)
    except SignatureExpired:
        raise ServiceError(str(EXPIRED), fields={"once": str(EXPIRED)}) from None
    except BadSignature:
        message = _("This form is not valid any more. Reload the page and send it again.")
        raise ServiceError(message, fields={"once": message}) from None
    _purge()
    user_id = user.id if isinstance(user, User) else None
    fingerprint = hashlib.sha256(f"form {scope}".encode()).hexdigest()
    row = hold(
        user_id,
        FORM_PREFIX + str(nonce),
        fingerprint,
        expires_at=utcnow() + dt.timedelta(hours=FORM_TOKEN_HOURS),
    )
    if row.response is None:
        return FormClaim(row)
    if row.fingerprint != fingerprint:
        message = _("This form is not valid any more. Reload the page and send it again.")
        raise ServiceError(message, fields={"once": message})
    answer = row.response
    return FormClaim(
        None,
        Earlier(
            label=str(answer.get("label") or ""),
            url=answer.get("url"),
            data=dict(answer.get("data") or {}),
        ),
    )


def _purge() -> None:
    """Forget the form tokens past their time (they are refused by then anyway)."""
    db.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at < func.now()),
        execution_options={"synchronize_session": False},
    )
