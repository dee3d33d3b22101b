"""Saved searches told by webhook: one signed event per search and period, through the
webhooks domain's outbox (dinamis.webhooks.service.enqueue); e-mail when the webhook
is gone."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dinamis.accounts import service as accounts
from dinamis.alerts import service
from dinamis.alerts.models import AlertNotice, Channel, Frequency, SavedSearch
from dinamis.core.errors import ServiceError
from dinamis.core.mail import OutboxMessage
from dinamis.extensions import db
from dinamis.webhooks.models import Webhook, WebhookDelivery
from tests.alerts.conftest import add_scenes, item, save_for


def hook_of(email: str, **given) -> Webhook:
    user = accounts.get_user_by_email(email)
    hook = Webhook(user=user, url="https://example.org/hook", secret="s3cret", **given)
    db.session.add(hook)
    db.session.flush()
    return hook


def test_new_scenes_go_to_the_webhook_once(app, cast, collections):
    with app.app_context():
        hook = hook_of(cast.user_a)
        saved = save_for(
            cast.user_a,
            name="Par webhook",
            channel=Channel.WEBHOOK,
            webhook_id=hook.id,
            frequency=Frequency.AT_ONCE,
        )
        add_scenes(item("H1"), item("H2", "open-col"))
        service.match_new_scenes()
        assert service.prepare(Frequency.AT_ONCE) == 1
        assert service.prepare(Frequency.AT_ONCE) == 0
        delivery = db.session.scalars(select(WebhookDelivery)).one()
        assert delivery.webhook_id == hook.id
        assert delivery.event == service.WEBHOOK_EVENT
        assert delivery.key.startswith(f"saved-search-{saved.id}-now-")
        data = delivery.payload["data"]
        assert data["saved_search"]["id"] == saved.id
        assert data["saved_search"]["search"]["intersects"]["type"] == "Polygon"
        assert sorted(s["id"] for s in data["scenes"]) == ["H1", "H2"]
        first = next(s for s in data["scenes"] if s["id"] == "H1")
        assert first["stac"].endswith("/stac/collections/members-col/items/H1")
        assert first["quicklook"].endswith("/catalogue/scenes/H1/quicklook")
        assert first["cloud_cover"] == 10.0
        notice = db.session.scalars(select(AlertNotice)).one()
        assert (notice.channel, notice.outbox_message_id) == (Channel.WEBHOOK, None)
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_only_ones_own_active_webhook(app, cast, collections):
    with app.app_context():
        theirs = hook_of(cast.user_b)
        with pytest.raises(ServiceError) as refused:
            save_for(cast.user_a, channel=Channel.WEBHOOK, webhook_id=theirs.id)
        assert "webhook_id" in refused.value.fields
        off = hook_of(cast.user_a, active=False, disabled_reason="owner")
        with pytest.raises(ServiceError) as switched_off:
            save_for(cast.user_a, channel=Channel.WEBHOOK, webhook_id=off.id)
        assert "webhook_id" in switched_off.value.fields


def test_a_deleted_webhook_leaves_the_email(app, cast, collections):
    with app.app_context():
        hook = hook_of(cast.user_a)
        saved = save_for(
            cast.user_a, channel=Channel.WEBHOOK, webhook_id=hook.id, frequency=Frequency.AT_ONCE
        )
        db.session.delete(hook)
        db.session.flush()
        db.session.expire_all()
        assert db.session.get(SavedSearch, saved.id).webhook_id is None
        add_scenes(item("E1"))
        service.match_new_scenes()
        assert service.prepare(Frequency.AT_ONCE) == 1
        message = db.session.scalars(select(OutboxMessage)).one()
        assert message.to_address == cast.user_a and message.template == "alert_scenes"
