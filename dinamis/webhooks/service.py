"""The rules of webhooks: setting one up, its secret, the outbox and delivery.

An event for a webhook is written as a `WebhookDelivery` row in the caller's
transaction (`enqueue`, idempotent by key), and a job is queued in that same
transaction: it exists, and a worker posts the event, only once the caller
commits. A failed attempt (5xx, 408, 429, a timeout, no connection) is tried
again after a growing delay (`retry_seconds`, doubled each time, at most an
hour) by the `send_webhooks` task, up to `max_attempts`; any other answer
(3xx: redirects are not followed, 4xx) gives the event up at once. After
`max_failures` failed attempts in a row, whatever the events, the webhook is
switched off and its owner told by e-mail. Delivery is at least once: a worker
that dies between the POST and its commit posts again, with the same
`Dinamis-Delivery` id, which receivers use to ignore a repeat.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
import uuid
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dinamis import config
from dinamis.accounts.models import User
from dinamis.config import WebhookSettings
from dinamis.core.db import utcnow
from dinamis.core.errors import Conflict, Forbidden, ServiceError
from dinamis.core.mail import queue_mail
from dinamis.core.web import external_url
from dinamis.extensions import db
from dinamis.webhooks.models import DeliveryStatus, DisabledReason, Webhook, WebhookDelivery
from dinamis.webhooks.permissions import (
    can_manage_own_webhooks,
    can_manage_webhook,
    can_oversee_webhooks,
    can_switch_on_webhook,
)
from dinamis.webhooks.transport import (
    SIGNATURE_HEADER,
    AddressRefused,
    Answer,
    body_of,
    check_url,
    post,
    sign,
)

log = logging.getLogger(__name__)

MAX_WEBHOOKS_PER_USER = 10
MAX_DESCRIPTION = 200
TEST_EVENT = "webhook.test"
DELIVER_TASK = "deliver_webhook"
# How long a rotated secret goes on signing beside the new one.
SECRET_GRACE = dt.timedelta(hours=24)


def _settings() -> WebhookSettings:
    return config.current().webhooks


def _production() -> bool:
    return config.current().is_production


def new_secret() -> str:
    """A new signing secret: 256 random bits."""
    return "whsec_" + secrets.token_urlsafe(32)


def checked_url(url: str) -> str:
    """The URL as it will be called, or a ServiceError naming the `url` field."""
    url = url.strip()
    if not url:
        raise ServiceError(_("Give the webhook's URL."), fields={"url": _("Required.")})
    try:
        check_url(url, _settings(), production=_production())
    except AddressRefused as refused:
        raise ServiceError(refused.message, fields={"url": refused.message}) from None
    return url


def _description(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_DESCRIPTION:
        message = _("At most %(n)d characters.", n=MAX_DESCRIPTION)
        raise ServiceError(message, fields={"description": message})
    return text


def _validated(url: str | None, description: str | None) -> tuple[Any, Any]:
    """The URL and description checked (None: not given), every problem named at its field."""
    problems: dict[str, str] = {}
    checked: list[str | None] = []
    for value, check in ((url, checked_url), (description, _description)):
        try:
            checked.append(check(value) if value is not None else None)
        except ServiceError as error:
            problems.update(error.fields)
    if problems:
        raise ServiceError(next(iter(problems.values())), fields=problems)
    return checked[0], checked[1]


def _ensure_owner(actor: User, webhook: Webhook) -> None:
    """Refuse (403) anyone but the webhook's owner."""
    if not can_manage_webhook(actor, webhook):
        raise Forbidden(_("This webhook is not yours."))


def owned(actor: User) -> list[Webhook]:
    """The actor's webhooks, oldest first."""
    return list(
        db.session.scalars(select(Webhook).where(Webhook.user_id == actor.id).order_by(Webhook.id))
    )


def create(
    actor: User, *, url: str, description: str | None = "", order_events: bool = True
) -> tuple[Webhook, str]:
    """A new webhook for the actor, and its secret (shown to them this once)."""
    if not can_manage_own_webhooks(actor):
        raise Forbidden(_("Sign in to set up a webhook."))
    url, description = _validated(url, description)
    # The account's row locked: two sendings of the form at once (a double click) are
    # counted and compared one after the other, not both against the same list.
    db.session.execute(select(User.id).where(User.id == actor.id).with_for_update())
    urls = list(db.session.scalars(select(Webhook.url).where(Webhook.user_id == actor.id)))
    if len(urls) >= MAX_WEBHOOKS_PER_USER:
        raise Conflict(
            _("You have %(n)d webhooks, the most an account may have.", n=MAX_WEBHOOKS_PER_USER)
        )
    if url in urls:
        taken = _("You already have a webhook for this address.")
        raise Conflict(taken, fields={"url": taken})
    secret = new_secret()
    webhook = Webhook(
        user_id=actor.id,
        url=url,
        description=description,
        secret=secret,
        order_events=order_events,
    )
    db.session.add(webhook)
    db.session.flush()
    return webhook, secret


def update_webhook(
    actor: User,
    webhook: Webhook,
    *,
    url: str | None = None,
    description: str | None = None,
    order_events: bool | None = None,
) -> Webhook:
    """Change a webhook's URL, description or whether it carries order events."""
    _ensure_owner(actor, webhook)
    new_url, new_description = _validated(url, description)
    if new_url is not None:
        webhook.url = new_url
    if new_description is not None:
        webhook.description = new_description
    if order_events is not None:
        webhook.order_events = order_events
    db.session.flush()
    return webhook


def rotate_secret(actor: User, webhook: Webhook) -> str:
    """A new secret for the webhook, shown this once. The old one goes on signing beside it
    (a second `v1`) for SECRET_GRACE, so that the owner's server switches without losing
    an event; a second rotation within that time ends the first one's grace."""
    _ensure_owner(actor, webhook)
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_until = utcnow() + SECRET_GRACE
    webhook.secret = new_secret()
    webhook.secret_created_at = utcnow()
    db.session.flush()
    return webhook.secret


def _cancel_pending(webhook_id: int, *, keep: int | None = None) -> int:
    """Cancel the webhook's waiting events (those a worker holds are left to it)."""
    waiting = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.webhook_id == webhook_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.id != (keep or 0),
        )
        .with_for_update(skip_locked=True)
    )
    result = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(waiting))
        .values(status=DeliveryStatus.CANCELLED),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def switch_off(actor: User, webhook: Webhook) -> None:
    """Its owner (or staff) switches a webhook off; its waiting events are cancelled."""
    if can_oversee_webhooks(actor) and webhook.user_id != actor.id:
        reason = DisabledReason.STAFF
    elif can_manage_webhook(actor, webhook):
        reason = DisabledReason.OWNER
    else:
        raise Forbidden(_("This webhook is not yours."))
    if not webhook.active and webhook.disabled_reason == reason:
        return
    webhook.active, webhook.disabled_reason = False, reason
    webhook.disabled_at, webhook.disabled_by_id = utcnow(), actor.id
    db.session.flush()
    _cancel_pending(webhook.id)


def switch_on(actor: User, webhook: Webhook) -> None:
    """Switch a webhook back on (its URL checked again); its failure count starts over."""
    if not can_switch_on_webhook(actor, webhook):
        raise Forbidden(_("Staff switched this webhook off; ask support to switch it on again."))
    if webhook.active:
        return
    checked_url(webhook.url)
    webhook.active, webhook.disabled_reason = True, None
    webhook.disabled_at = webhook.disabled_by_id = None
    webhook.consecutive_failures = 0
    db.session.flush()


def delete(actor: User, webhook: Webhook) -> None:
    """Delete a webhook and its record of deliveries."""
    _ensure_owner(actor, webhook)
    db.session.delete(webhook)
    db.session.flush()


def deliveries(webhook: Webhook, limit: int = 20) -> list[WebhookDelivery]:
    """The webhook's latest events, newest first."""
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


# --- the outbox -------------------------------------------------------------------------------


def payload(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of an event: its id (the same at every attempt), type, time and data."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": event,
        "created": utcnow().isoformat(timespec="seconds").replace("+00:00", "Z"),
        "data": data,
    }


def enqueue(
    session: Session, *, webhook_id: int, event: str, data: dict[str, Any], key: str
) -> None:
    """Write an event for a webhook in the caller's transaction; posted once that commits.

    Idempotent by `key` per webhook: an event already written under this key is
    not written again (nor sent twice). Nothing is written for a webhook that is
    switched off. Flushes, never commits.
    """
    import dinamis.webhooks.tasks  # noqa: F401  (registers the task in this process)
    from dinamis.jobs.queue import defer

    active = session.scalar(select(Webhook.active).where(Webhook.id == webhook_id))
    if not active:
        return
    delivery_id = session.scalar(
        insert(WebhookDelivery)
        .values(
            webhook_id=webhook_id,
            key=key[:200],
            event=event,
            payload=payload(event, data),
            status=DeliveryStatus.PENDING,
            attempts=0,
        )
        .on_conflict_do_nothing(constraint="uq_webhook_deliveries_key")
        .returning(WebhookDelivery.id)
    )
    if delivery_id is not None:
        defer(DELIVER_TASK, delivery_id=delivery_id)


def send_test(actor: User, webhook: Webhook) -> None:
    """Queue a `webhook.test` event for the webhook (its owner's "send a test event")."""
    _ensure_owner(actor, webhook)
    if not webhook.active:
        raise Conflict(_("This webhook is switched off: switch it on to send it an event."))
    enqueue(
        db.session,
        webhook_id=webhook.id,
        event=TEST_EVENT,
        data={
            "webhook": {"id": webhook.id, "url": webhook.url},
            "message": "This is a test event sent from Dinamis.",
        },
        key=f"test:{uuid.uuid4().hex}",
    )


# --- delivery -----------------------------------------------------------------------------------


def retry_delay(attempts: int, settings: WebhookSettings) -> dt.timedelta:
    """The wait before the next attempt after `attempts` failed ones."""
    return dt.timedelta(seconds=min(settings.retry_seconds * 2 ** (attempts - 1), 3600))


def signing_secrets(webhook: Webhook) -> list[str]:
    """The secrets an event is signed with: the current one, then the one before it while
    its grace lasts."""
    previous = webhook.previous_secret
    until = webhook.previous_secret_until
    return [webhook.secret] + ([previous] if previous and until and until > utcnow() else [])


def headers_for(delivery: WebhookDelivery, secrets: list[str], body: bytes) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: sign(secrets[0], int(time.time()), body, *secrets[1:]),
        "Dinamis-Event": delivery.event,
        "Dinamis-Delivery": str(delivery.payload.get("id", delivery.id)),
    }


def _locked_due(*conditions: Any) -> WebhookDelivery | None:
    return db.session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= func.clock_timestamp(),
            *conditions,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()


def _attempt(delivery: WebhookDelivery, settings: WebhookSettings) -> bool:
    """One POST of the event; the delivery and its webhook updated (flushed). True if delivered."""
    delivered = _post_once(delivery, settings)
    db.session.flush()
    return delivered


def _post_once(delivery: WebhookDelivery, settings: WebhookSettings) -> bool:
    webhook = db.session.get(Webhook, delivery.webhook_id)
    if webhook is None or not webhook.active:
        delivery.status = DeliveryStatus.CANCELLED
        return False
    delivery.attempts += 1
    body = body_of(delivery.payload)
    headers = headers_for(delivery, signing_secrets(webhook), body)
    url = webhook.url
    try:
        # Checked again at each send: the name may resolve elsewhere now (DNS rebinding).
        target = check_url(url, settings, production=_production())
    except AddressRefused as refused:
        answer = Answer(None, refused.message, retry=False)
    else:
        answer = post(target, body, headers, settings.timeout)
    now = utcnow()
    delivery.response_status = answer.status
    # The webhook's row is locked only now, after the POST, to count in order.
    db.session.execute(select(Webhook.id).where(Webhook.id == webhook.id).with_for_update())
    db.session.refresh(webhook)
    if answer.ok:
        delivery.status, delivery.delivered_at, delivery.last_error = (
            DeliveryStatus.DELIVERED,
            now,
            None,
        )
        webhook.consecutive_failures, webhook.last_success_at = 0, now
        return True
    delivery.last_error = answer.error
    if answer.retry and delivery.attempts < settings.max_attempts:
        delivery.next_attempt_at = now + retry_delay(delivery.attempts, settings)
    else:
        delivery.status = DeliveryStatus.FAILED
    webhook.consecutive_failures += 1
    webhook.last_failure_at, webhook.last_error = now, answer.error
    log.warning("webhook %s: event %s not delivered: %s", webhook.id, delivery.id, answer.error)
    if webhook.active and webhook.consecutive_failures >= settings.max_failures:
        _switch_off_for_failures(webhook, delivery)
    return False


def _switch_off_for_failures(webhook: Webhook, delivery: WebhookDelivery) -> None:
    webhook.active, webhook.disabled_reason = False, DisabledReason.FAILURES
    webhook.disabled_at, webhook.disabled_by_id = utcnow(), None
    if delivery.status == DeliveryStatus.PENDING:
        delivery.status = DeliveryStatus.CANCELLED
    db.session.flush()
    _cancel_pending(webhook.id, keep=delivery.id)
    owner = webhook.user
    queue_mail(
        owner.email,
        "webhook_disabled",
        language=owner.language,
        user=owner,
        webhook=webhook,
        failures=webhook.consecutive_failures,
        link=external_url("webhooks.show", webhook_id=webhook.id),
    )
    log.warning(
        "webhook %s switched off after %s failures", webhook.id, webhook.consecutive_failures
    )


def deliver(delivery_id: int) -> str:
    """Post one waiting event now if it is due (the job queued with it)."""
    delivery = _locked_due(WebhookDelivery.id == delivery_id)
    if delivery is None:
        return "nothing due"
    return "delivered" if _attempt(delivery, _settings()) else "not delivered"


def deliver_due(limit: int = 100) -> int:
    """Post up to `limit` waiting events whose time has come, each committed on its own.

    One commit per event: a worker that dies half-way never forgets an event
    and posts again at most the one it was sending.
    """
    from dinamis.core.transaction import commit

    settings, sent = _settings(), 0
    for _attempt_number in range(limit):
        delivery = _locked_due()
        if delivery is None:
            break
        sent += _attempt(delivery, settings)
        commit()
    return sent


# --- staff ------------------------------------------------------------------------------------


def overview(actor: User, limit: int = 100) -> tuple[list[Webhook], list[WebhookDelivery]]:
    """Staff: webhooks that fail or are switched off, and the latest failed events."""
    if not can_oversee_webhooks(actor):
        raise Forbidden(_("Only staff see every webhook."))
    hooks = list(
        db.session.scalars(
            select(Webhook)
            .where((Webhook.consecutive_failures > 0) | (Webhook.active.is_(False)))
            .order_by(Webhook.last_failure_at.desc().nulls_last(), Webhook.id)
            .limit(limit)
        )
    )
    failed = list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.status == DeliveryStatus.FAILED)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
    return hooks, failed


# Built once: every order's transition runs it, its submission included, and
# building the statement and its cache key cost more CPU than running it.
_ACTIVE = (
    select(Webhook.id)
    .where(Webhook.user_id == bindparam("user_id"), Webhook.active.is_(True))
    .order_by(Webhook.id)
)
_ACTIVE_ORDER_EVENTS = _ACTIVE.where(Webhook.order_events.is_(True))


def active_webhooks(session: Session, user_id: int, *, order_events: bool = False) -> list[int]:
    """The ids of an account's webhooks that are on (and carry order events, if asked)."""
    query = _ACTIVE_ORDER_EVENTS if order_events else _ACTIVE
    return list(session.scalars(query, {"user_id": user_id}))
