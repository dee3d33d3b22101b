"""Delivery to a real HTTP server: the signature, retries with back-off, switch-off, redirects."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time

from sqlalchemy import func, select, text, update

from dinamis.core.db import utcnow
from dinamis.core.mail import OutboxMessage
from dinamis.extensions import db
from dinamis.webhooks import service
from dinamis.webhooks.models import DeliveryStatus, DisabledReason, Webhook, WebhookDelivery
from tests.factories import make_user
from tests.webhooks.conftest import set_webhook_settings


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The README's ten-line example, as a receiver writes it."""
    items = [item.split("=", 1) for item in header.split(",")]
    timestamp = int(dict(items)["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False  # too old: perhaps replayed
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    # One v1 per secret (two for a day after a rotation): any may match.
    return any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")


def _hook(url: str, email: str = "hook.owner@labo.test") -> tuple[Webhook, str]:
    owner = make_user(email)
    return service.create(owner, url=url, description="lab server")


def _due_now(delivery_id: int) -> None:
    """Time passes: the delivery's retry time has come."""
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(next_attempt_at=func.now() - dt.timedelta(seconds=1))
    )
    db.session.expire_all()


def _only_delivery(webhook: Webhook) -> WebhookDelivery:
    return db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    ).one()


def test_a_test_event_is_posted_signed_as_documented(app, loopback, receiver):
    with app.app_context():
        webhook, secret = _hook(receiver.url)
        service.send_test(webhook.user, webhook)
        delivery = _only_delivery(webhook)
        assert service.deliver(delivery.id) == "delivered"
        [got] = receiver.received
        assert got.path == "/hooks/dinamis?x=1"
        assert got.headers["Content-Type"] == "application/json"
        assert verify(secret, got.headers["Dinamis-Signature"], got.body)
        assert not verify("whsec_another", got.headers["Dinamis-Signature"], got.body)
        assert not verify(secret, got.headers["Dinamis-Signature"], got.body + b" ")
        event = json.loads(got.body)
        assert event["type"] == "webhook.test" == got.headers["Dinamis-Event"]
        assert event["id"] == got.headers["Dinamis-Delivery"] == delivery.payload["id"]
        assert event["data"]["webhook"] == {"id": webhook.id, "url": receiver.url}
        db.session.refresh(delivery)
        assert (delivery.status, delivery.attempts, delivery.response_status) == (
            DeliveryStatus.DELIVERED,
            1,
            200,
        )
        assert webhook.last_success_at is not None


def test_a_rotated_secret_signs_beside_the_new_one_for_a_day(app, loopback, receiver):
    """After a rotation an event carries two v1 (new secret first): a receiver with either
    secret accepts it; after the grace period, only the new secret signs."""
    with app.app_context():
        webhook, old = _hook(receiver.url)
        new = service.rotate_secret(webhook.user, webhook)
        assert webhook.previous_secret_until is not None
        assert webhook.previous_secret_until - utcnow() > service.SECRET_GRACE - dt.timedelta(
            minutes=1
        )
        service.send_test(webhook.user, webhook)
        assert service.deliver(_only_delivery(webhook).id) == "delivered"
        [got] = receiver.received
        header = got.headers["Dinamis-Signature"]
        assert header.count("v1=") == 2
        assert verify(new, header, got.body) and verify(old, header, got.body)
        assert not verify("whsec_another", header, got.body)
        webhook.previous_secret_until = utcnow() - dt.timedelta(seconds=1)
        db.session.flush()
        assert service.signing_secrets(webhook) == [new]
        assert service.signing_secrets(webhook) != [old]


def test_an_old_timestamp_fails_verification(app, loopback, receiver):
    with app.app_context():
        from dinamis.webhooks.transport import sign

        body = b'{"a":1}'
        old = sign("s", int(time.time()) - 3600, body)
        assert not verify("s", old, body)
        assert verify("s", sign("s", int(time.time()), body), body)


def test_the_same_key_is_one_event_and_one_job(app, loopback, receiver):
    with app.app_context():
        webhook, _secret = _hook(receiver.url)
        for _ in range(3):
            service.enqueue(
                db.session, webhook_id=webhook.id, event="order.accepted", data={}, key="k-1"
            )
        assert _only_delivery(webhook).key == "k-1"
        jobs = db.session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'deliver_webhook' "
                "AND args->>'delivery_id' = :id"
            ),
            {"id": str(_only_delivery(webhook).id)},
        )
        assert jobs == 1


def test_5xx_is_retried_with_growing_delays_then_delivered(app, loopback, receiver):
    receiver.plan = [503, 500]
    with app.app_context():
        webhook, secret = _hook(receiver.url)
        service.send_test(webhook.user, webhook)
        delivery = _only_delivery(webhook)
        before = utcnow()
        assert service.deliver(delivery.id) == "not delivered"
        db.session.refresh(delivery)
        first_wait = delivery.next_attempt_at - before
        assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
        assert delivery.last_error == "HTTP 503" and dt.timedelta(seconds=29) < first_wait
        # not due yet: nothing is sent
        assert service.deliver_due() == 0 and len(receiver.received) == 1
        _due_now(delivery.id)
        before = utcnow()
        assert service.deliver_due() == 0
        db.session.refresh(delivery)
        assert delivery.attempts == 2 and delivery.next_attempt_at - before > first_wait
        assert webhook.consecutive_failures == 2
        _due_now(delivery.id)
        assert service.deliver_due() == 1
        db.session.refresh(delivery)
        db.session.refresh(webhook)
        assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
        assert webhook.consecutive_failures == 0
        bodies = {r.body for r in receiver.received}
        assert len(bodies) == 1  # the same event each time
        assert all(
            verify(secret, r.headers["Dinamis-Signature"], r.body) for r in receiver.received
        )


def test_a_timeout_is_retried(app, loopback, receiver):
    receiver.delay = 1.5  # the timeout is 1 s
    with app.app_context():
        webhook, _secret = _hook(receiver.url)
        service.send_test(webhook.user, webhook)
        delivery = _only_delivery(webhook)
        service.deliver(delivery.id)
        db.session.refresh(delivery)
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.last_error == "timed out after 1 s"
        assert delivery.response_status is None


def test_attempts_run_out_then_the_event_is_given_up(app, loopback, receiver):
    receiver.plan = [502] * 5
    with app.app_context():
        set_webhook_settings(app, max_failures=50)
        webhook, _secret = _hook(receiver.url)
        service.send_test(webhook.user, webhook)
        delivery = _only_delivery(webhook)
        for _ in range(3):
            _due_now(delivery.id)
            service.deliver(delivery.id)
        db.session.refresh(delivery)
        assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3
        _due_now(delivery.id)
        assert service.deliver(delivery.id) == "nothing due"
        assert len(receiver.received) == 3


def test_a_4xx_is_not_retried(app, loopback, receiver):
    receiver.plan = [410]
    with app.app_context():
        webhook, _secret = _hook(receiver.url)
        service.send_test(webhook.user, webhook)
        delivery = _only_delivery(webhook)
        service.deliver(delivery.id)
        db.session.refresh(delivery)
        assert (delivery.status, delivery.response_status) == (DeliveryStatus.FAILED, 410)


def test_a_redirect_is_not_followed(app, loopback, receiver):
    from tests.webhooks.conftest import start_receiver

    elsewhere = start_receiver()
    try:
        receiver.plan, receiver.location = [307], elsewhere.url
        with app.app_context():
            webhook, _secret = _hook(receiver.url)
            service.send_test(webhook.user, webhook)
            delivery = _only_delivery(webhook)
            service.deliver(delivery.id)
            db.session.refresh(delivery)
            assert delivery.status == DeliveryStatus.FAILED
            assert "redirects are not followed" in (delivery.last_error or "")
        assert len(receiver.received) == 1 and elsewhere.received == []
    finally:
        elsewhere.server.shutdown()
        elsewhere.server.server_close()


def test_repeated_failures_switch_the_webhook_off_and_tell_its_owner(app, loopback, receiver):
    receiver.plan = [500] * 10
    with app.app_context():
        webhook, _secret = _hook(receiver.url)
        owner = webhook.user
        for _ in range(3):
            service.send_test(owner, webhook)
        first, second, third = db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook.id)
            .order_by(WebhookDelivery.id)
        )
        service.deliver(first.id)  # failure 1
        service.deliver(second.id)  # 2
        _due_now(first.id)
        service.deliver(first.id)  # 3
        assert webhook.active
        _due_now(second.id)
        service.deliver(second.id)  # 4: the limit (max_failures=4)
        db.session.refresh(webhook)
        assert not webhook.active and webhook.disabled_reason == DisabledReason.FAILURES
        for delivery in (first, second, third):
            db.session.refresh(delivery)
        assert {first.status, second.status, third.status} == {DeliveryStatus.CANCELLED}
        [mail] = db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.to_address == owner.email,
                OutboxMessage.template == "webhook_disabled",
            )
        )
        assert receiver.url in mail.body_text and "HTTP 500" in mail.body_text
        assert f"/webhooks/{webhook.id}" in mail.body_text
        # Nothing more is sent, nor written, while it is off.
        service.enqueue(db.session, webhook_id=webhook.id, event="x", data={}, key="later")
        assert service.deliver_due() == 0 and len(receiver.received) == 4
        # Its owner switches it back on: the count starts over.
        service.switch_on(owner, webhook)
        assert webhook.active and webhook.consecutive_failures == 0


def test_a_name_that_resolves_elsewhere_at_send_time_is_refused(app, strict, receiver, monkeypatch):
    """DNS rebinding: public when saved, loopback when sent."""
    from dinamis.webhooks import transport

    answers = {"hooks.example.org": "93.184.216.34"}

    def resolve(host, port, *args, **kwargs):
        return [(2, 1, 6, "", (answers[host], port))]

    monkeypatch.setattr(transport.socket, "getaddrinfo", resolve)
    port = receiver.server.server_address[1]
    with app.app_context():
        webhook, _secret = _hook(f"http://hooks.example.org:{port}/in")
        service.send_test(webhook.user, webhook)
        answers["hooks.example.org"] = "127.0.0.1"
        delivery = _only_delivery(webhook)
        service.deliver(delivery.id)
        db.session.refresh(delivery)
        assert delivery.status == DeliveryStatus.FAILED
        assert "127.0.0.1" in (delivery.last_error or "")
    assert receiver.received == []


def test_the_checked_address_is_the_one_connected_to(app, loopback, receiver, monkeypatch):
    """The name is resolved once per send, and the request goes to that address with its Host."""
    from dinamis.webhooks import transport

    calls = []

    def resolve(host, port, *args, **kwargs):
        calls.append(host)
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(transport.socket, "getaddrinfo", resolve)
    port = receiver.server.server_address[1]
    with app.app_context():
        webhook, _secret = _hook(f"http://receiver.test:{port}/in")
        calls.clear()
        service.send_test(webhook.user, webhook)
        service.deliver(_only_delivery(webhook).id)
    # The name once (the connection then opens the literal address it gave).
    assert [c for c in calls if c != "127.0.0.1"] == ["receiver.test"]
    [got] = receiver.received
    assert got.headers["Host"] == f"receiver.test:{port}"
