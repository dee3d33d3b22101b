"""The webhook tables' own rules, held by PostgreSQL (migration 0025)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from dinamis.extensions import db
from dinamis.webhooks.models import DisabledReason, Webhook, WebhookDelivery
from tests.factories import make_user


def _webhook() -> Webhook:
    hook = Webhook(user=make_user("hook.owner@labo.test"), url="https://example.org/h", secret="s")
    db.session.add(hook)
    db.session.flush()
    return hook


def test_one_delivery_per_webhook_and_key(app):
    with app.app_context():
        hook = _webhook()
        db.session.add(WebhookDelivery(webhook=hook, key="order:1:accepted", event="e", payload={}))
        db.session.flush()
        db.session.add(WebhookDelivery(webhook=hook, key="order:1:accepted", event="e", payload={}))
        with pytest.raises(IntegrityError, match="uq_webhook_deliveries_key"):
            db.session.flush()


def test_a_webhook_is_off_exactly_when_it_has_a_reason(app):
    with app.app_context():
        hook = _webhook()
        hook.active = False  # off without saying why
        with pytest.raises(IntegrityError, match="active_unless_disabled"):
            db.session.flush()


def test_a_webhook_off_for_a_known_reason_is_kept(app):
    with app.app_context():
        hook = _webhook()
        hook.active, hook.disabled_reason = False, DisabledReason.FAILURES
        db.session.flush()
        hook.disabled_reason = "bored"
        with pytest.raises(IntegrityError, match="disabled_reason"):
            db.session.flush()
