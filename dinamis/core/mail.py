"""E-mail through an outbox.

`queue_mail` writes the message in the same transaction as the change that
causes it; once that transaction commits, the sender tries to deliver it.
A message that cannot be delivered (SMTP down) stays in the outbox and is
retried with a growing delay by `dinamis mail send` (run by a timer) until
`max_attempts`; nothing is lost when the server is down.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum
from typing import Any, ParamSpec, Protocol, TypeVar

from flask import current_app
from flask_babel import force_locale, get_translations
from jinja2 import Environment, TemplateNotFound
from jinja2.ext import InternationalizationExtension
from sqlalchemy import Index, LargeBinary, Select, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from dinamis import config
from dinamis.config import MailSettings
from dinamis.core.columns import CreatedAt, IntPk, choice, part_of
from dinamis.core.db import Base, utcnow
from dinamis.core.transaction import after_commit, commit
from dinamis.extensions import db

log = logging.getLogger(__name__)
P = ParamSpec("P")


# FAILED: gave up after max_attempts.
MailStatus = StrEnum("MailStatus", "PENDING SENT FAILED")


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "next_attempt_at", postgresql_where="status = 'pending'"),
    )

    id: Mapped[IntPk]
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    template: Mapped[str] = mapped_column(String(100))
    # Headers beside From, To, Subject and Message-ID (List-Unsubscribe): name -> value.
    headers: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    status: Mapped[str] = choice(MailStatus, 10, default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    sent_at: Mapped[dt.datetime | None]

    attachments: Mapped[list[OutboxAttachment]] = relationship(
        cascade="all, delete-orphan", order_by="OutboxAttachment.id"
    )


class OutboxAttachment(Base):
    __tablename__ = "outbox_attachments"

    id: Mapped[IntPk]
    message_id: Mapped[int] = part_of("outbox_messages")
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str
    content: bytes


def new_message(
    to: str,
    template: str,
    *,
    language: str = "fr",
    attachments: list[Attachment] | None = None,
    headers: dict[str, str] | None = None,
    **context: object,
) -> OutboxMessage:
    """Render `templates/mail/<template>.txt` (and .html if any) as a message, not added to
    the session. The subject is the template's first line; `headers`: more headers of the
    message (List-Unsubscribe).

    `queue_mail` writes it; a caller that writes it itself must then call `queued` once
    the row is written.
    """
    with force_locale(language):
        rendered = _render(f"mail/{template}.txt", language, context)
        html = (
            _render(f"mail/{template}.html", language, context)
            if _has_template(f"mail/{template}.html")
            else None
        )
    subject, _, body = rendered.partition("\n")
    message = OutboxMessage(
        to_address=to,
        subject=subject.strip(),
        body_text=body.lstrip("\n"),
        body_html=html,
        template=template,
        headers=headers or None,
    )
    for att in attachments or []:
        message.attachments.append(
            OutboxAttachment(filename=att.filename, media_type=att.media_type, content=att.content)
        )
    return message


def _writing(build: Callable[P, OutboxMessage]) -> Callable[P, OutboxMessage]:
    def write(*args: P.args, **kwargs: P.kwargs) -> OutboxMessage:
        """The message, written with the current transaction; delivered after it commits."""
        message = build(*args, **kwargs)
        db.session.add(message)
        db.session.flush()
        queued(message)
        return message

    return write


# Render a mail template (what `new_message` takes) and queue the message: written with
# the current transaction, delivered after it commits.
queue_mail = _writing(new_message)


def queued(message: OutboxMessage) -> None:
    """A written message: delivered after the commit when the settings say so."""
    message_id = message.id
    if config.current().mail.deliver_in_request:
        after_commit(lambda: deliver_ids([message_id]))


def _render(name: str, language: str, context: dict[str, object]) -> str:
    """A mail template rendered with the Jinja environment alone.

    Not `flask.render_template`: its context processors are for pages (the
    app's builds a language form and a logout form, each loading the WTForms
    catalogue from disk), and a mail template uses only what it is given and
    the environment's globals and filters.
    """
    return (
        environment(language).get_template(name).render({"current_language": language, **context})
    )


def environment(language: str) -> Environment:
    """The app's Jinja environment with `language`'s translations installed in it, kept per
    app and language: the app's own asks Flask-Babel for the current translations at every
    gettext call (~12 us), and a digest of 10,000 alerts makes 150,000 such calls
    (bench/alerts). An overlay: the app's loader, filters and settings, its own globals and
    template cache. Its gettext localises values as the app's does (core.formats)."""
    from dinamis.core import formats

    environments: dict[str, Environment] = current_app.extensions.setdefault(
        "dinamis_mail_environments", {}
    )
    if language not in environments:
        app_env = current_app.jinja_env
        env = app_env.overlay(cache_size=50)
        env.globals = dict(app_env.globals)  # the overlay's own: the app's stay as they are
        i18n = env.extensions["jinja2.ext.InternationalizationExtension"]
        assert isinstance(i18n, InternationalizationExtension)
        with force_locale(language):
            i18n._install(get_translations(), newstyle=True)
        formats.localise_gettext(env.globals)
        environments[language] = env
    return environments[language]


def _has_template(name: str) -> bool:
    """Whether the app has this template; the answer is kept per app (templates are files)."""
    known: dict[str, bool] = current_app.extensions.setdefault("dinamis_mail_templates", {})
    if name not in known:
        try:
            current_app.jinja_env.get_template(name)
        except TemplateNotFound:
            known[name] = False
        else:
            known[name] = True
    return known[name]


def _build(message: OutboxMessage, settings: MailSettings) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.sender
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(domain="dinamis")
    for name, value in (message.headers or {}).items():
        email[name] = value
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    for att in message.attachments:
        maintype, _, subtype = att.media_type.partition("/")
        email.add_attachment(att.content, maintype=maintype, subtype=subtype, filename=att.filename)
    return email


def _transmit(email: EmailMessage, settings: MailSettings) -> None:
    if settings.backend == "log":
        log.info(
            "mail (log backend)",
            extra={"mail_to": email["To"], "mail_subject": email["Subject"]},
        )
        body = email.get_body(preferencelist=("plain",))
        print(
            f"--- mail to {email['To']}: {email['Subject']}\n"
            f"{body.get_content() if body else ''}\n---",
            flush=True,
        )
        return
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.use_ssl:
        smtp = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with smtp:
        if settings.use_tls:
            smtp.starttls(context=context)
        if settings.username:
            smtp.login(settings.username, settings.password)
        smtp.send_message(email)


def _retry_delay(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(2 ** (attempts - 1), 24 * 60))


def _deliver_one(session: Session, message: OutboxMessage, settings: MailSettings) -> bool:
    message.attempts += 1
    delivered = False
    try:
        _transmit(_build(message, settings), settings)
    except (OSError, smtplib.SMTPException) as exc:
        message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if message.attempts >= settings.max_attempts:
            message.status = MailStatus.FAILED
            log.error("mail %s given up after %s attempts", message.id, message.attempts)
        else:
            message.next_attempt_at = utcnow() + _retry_delay(message.attempts)
            log.warning("mail %s not delivered, will retry: %s", message.id, exc)
    else:
        message.status = MailStatus.SENT
        message.sent_at = utcnow()
        message.last_error = None
        delivered = True
    # Each message is its own transaction, so that a crash half-way never
    # sends one twice nor forgets one.
    session.commit()
    return delivered


def _settings() -> MailSettings:
    return config.current().mail


def _locked_pending(session: Session, *conditions: object) -> OutboxMessage | None:
    return session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == MailStatus.PENDING, *conditions)  # type: ignore[arg-type]
        .order_by(OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()


def deliver_ids(ids: list[int]) -> int:
    """Try to deliver these pending messages now (called after a commit)."""
    session, settings, sent = db.session, _settings(), 0
    for message_id in ids:
        message = _locked_pending(session, OutboxMessage.id == message_id)
        if message is not None:
            sent += _deliver_one(session, message, settings)
    return sent


class Step(Protocol):
    """A recorded step of a request's life that its requester is told of once, after the
    step's commit (an order's, a surface model's): null `told_at` until then."""

    id: int
    told_at: dt.datetime | None


S = TypeVar("S", bound=Step)


def tell_each(untold: Select[S], tell: Callable[[S], None], batch: int, again: bool) -> int:
    """Tell the steps `untold` selects (not told yet, oldest first, locked SKIP LOCKED: those
    another worker holds are left to it), `batch` at a time, while `again` and a whole
    batch was told: `tell` writes what each one owes (its e-mail, its webhooks' events), in
    a savepoint, and the step is marked told. A step that fails is logged and left for
    the next round. Commits; returns how many were told.
    """
    told = 0
    while True:
        steps, done = list(db.session.scalars(untold.limit(batch))), []
        for step in steps:
            try:
                with db.session.begin_nested():
                    tell(step)
            except Exception:
                log.exception("%s %s not told", type(step).__name__, step.id)
            else:
                done.append(step)
        now = utcnow()
        for step in done:
            step.told_at = now
        commit()
        told += len(done)
        if not again or len(steps) < batch or not done:
            return told


def told_after_commit(tell: Callable[[list[int]], int], step: Step) -> None:
    """A step just written (flushed): told after the commit by this request (or job) when
    it sends its own mail (`deliver_in_request`), else by the outbox worker."""
    step_id = step.id
    if config.current().mail.deliver_in_request:
        after_commit(lambda: tell([step_id]))


Produce = TypeVar("Produce", bound=Callable[[], int])


@dataclass(frozen=True)
class _Producer:
    produce: Callable[[], int]
    untold: Select[int]


# What writes, after the fact, the messages a domain's records owe (an order's steps:
# orders.service.tell_steps), with the ids of the records it has still to tell; each
# commits what it wrote.
_PRODUCERS: list[_Producer] = []
# The most untold records of each producer `untold` reads.
UNTOLD_LOOK = 1000
# `untold`'s statement, made again as each producer registers (made once: building it
# cost a look more than running it).
_LOOK: list[Select[Any]] = []


def producer(untold: Select[int]) -> Callable[[Produce], Produce]:
    """Register a producer: run by `deliver_due` before each round of delivery. `untold`:
    the ids of the records it has still to tell (the worker looks at them: `untold`)."""

    def register(produce: Produce) -> Produce:
        _PRODUCERS.append(_Producer(produce, untold))
        looks = []
        for registered in _PRODUCERS:
            ids = registered.untold.limit(UNTOLD_LOOK).subquery()
            looks.append(select(func.array_agg(ids.c[0])).scalar_subquery())
        _LOOK[:] = [select(*looks)]
        return produce

    return register


def untold() -> set[tuple[int, int]]:
    """The records the producers have still to tell, as (producer, id), the oldest
    `UNTOLD_LOOK` of each, in one statement: the worker runs `deliver_due` as soon as one
    it has not seen appears (jobs.queue.wake)."""
    if not _LOOK:
        return set()
    found = db.session.execute(_LOOK[0]).one()
    return {(n, step) for n, ids in enumerate(found) for step in ids or ()}


def deliver_due(limit: int = 100) -> int:
    """Write the messages owed (`producer`), then deliver up to `limit` pending messages
    whose retry time has come."""
    for registered in _PRODUCERS:
        registered.produce()
    session, settings, sent = db.session, _settings(), 0
    for _ in range(limit):
        message = _locked_pending(session, OutboxMessage.next_attempt_at <= func.clock_timestamp())
        if message is None:
            break
        sent += _deliver_one(session, message, settings)
    return sent
