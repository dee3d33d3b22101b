"""Order state changes on the webhook channel, with STAPI-like status codes."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from flask_babel import force_locale
from shapely.geometry import box
from sqlalchemy import select

from dinamis.core.db import utcnow
from dinamis.core.mail import OutboxMessage
from dinamis.dsm import service as dsm
from dinamis.extensions import db
from dinamis.orders import service as orders
from dinamis.quota import service as quota
from dinamis.webhooks import events, service
from dinamis.webhooks.models import WebhookDelivery
from tests.factories import make_entity, make_user
from tests.orders.helpers import TODAY, acquired, tasking

AOI = box(2, 45, 2.15, 45.15)


@pytest.fixture
def world(app, loopback):
    with app.app_context(), force_locale("en"):
        entity = make_entity("Lab W", profile_code="research-fr")
        user = make_user("user@lab-w.test", entity=entity)
        other = make_user("other@lab-w.test", entity=entity)
        staff = make_user("staff@dinamis.test", role="staff")
        quota.grant(entity, "tasking", "2027", Decimal("5000"))
        hook, _secret = service.create(user, url="http://127.0.0.1:9/orders")
        quiet, _secret = service.create(user, url="http://127.0.0.1:9/alerts", order_events=False)
        elsewhere, _secret = service.create(other, url="http://127.0.0.1:9/other")
        yield {"user": user, "staff": staff, "hook": hook, "quiet": quiet, "other": elsewhere}


def _events(webhook) -> list[dict]:
    """The webhook's events, once the outbox worker has told the orders' and the surface
    models' steps."""
    orders.tell_steps()
    dsm.tell_steps()
    rows = db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id)
        .order_by(WebhookDelivery.id)
    )
    return [row.payload for row in rows]


def test_an_order_through_its_life(world):
    user, staff, hook = world["user"], world["staff"], world["hook"]
    order = orders.submit_tasking(user, tasking(), today=TODAY)
    orders.review(staff, order, accept=True, comment="Feasible.")
    acquired("WEST", box(1.8, 44.8, 2.06, 45.4), TODAY + dt.timedelta(days=20))
    acquired("ALL", box(1.8, 44.8, 2.4, 45.4), TODAY + dt.timedelta(days=21))
    orders.deliver(staff, order, "WEST")
    orders.deliver(staff, order, "ALL")
    sent = _events(hook)
    assert [(e["type"], e["data"]["status"]["status_code"]) for e in sent] == [
        ("order.received", "received"),
        ("order.accepted", "accepted"),
        ("order.delivered", "processing"),
        ("order.delivered", "completed"),
    ]
    received = sent[0]["data"]
    assert received["order"]["id"] == order.id and received["order"]["type"] == "tasking"
    assert received["order"]["number"] == order.number
    assert received["order"]["url"].endswith(f"/orders/{order.id}")
    assert received["order"]["api_url"].endswith(f"/api/v1/tasking-requests/{order.id}")
    assert (received["dinamis_status"], received["previous_dinamis_status"]) == (
        "under_review",
        "draft",
    )
    assert sent[1]["data"]["status"]["reason_text"] == "Feasible."
    partial, complete = sent[2]["data"]["delivery"], sent[3]["data"]["delivery"]
    assert partial["complete"] is False and partial["scenes"] == ["WEST"]
    assert complete["complete"] is True and complete["scenes"] == ["WEST", "ALL"]
    assert complete["delivered_km2"] == f"{order.delivered_km2:.2f}"
    # Each event's id is its own; the body is JSON as sent.
    assert len({e["id"] for e in sent}) == 4
    json.dumps(sent)
    # Only the requester's webhook that carries order events.
    assert _events(world["quiet"]) == [] and _events(world["other"]) == []
    # The e-mail channel is unchanged: the requester is mailed every step.
    mails = db.session.scalars(
        select(OutboxMessage.subject).where(OutboxMessage.to_address == user.email)
    ).all()
    assert len(mails) == 4


def test_a_rejection_carries_its_reason(world):
    order = orders.submit_tasking(world["user"], tasking(), today=TODAY)
    orders.review(world["staff"], order, accept=False, comment="Outside the programme's scope.")
    rejected = _events(world["hook"])[-1]
    assert rejected["type"] == "order.rejected"
    assert rejected["data"]["status"] == {
        "status_code": "rejected",
        "reason_code": "rejected_by_staff",
        "reason_text": "Outside the programme's scope.",
        "timestamp": rejected["data"]["status"]["timestamp"],
    }
    assert rejected["data"]["previous_status_code"] == "received"


def test_a_cancelled_order(world):
    order = orders.submit_tasking(world["user"], tasking(), today=TODAY)
    orders.cancel(world["user"], order, "No longer needed.")
    cancelled = _events(world["hook"])[-1]
    assert cancelled["type"] == "order.cancelled"
    assert cancelled["data"]["status"]["status_code"] == "canceled"
    assert cancelled["data"]["status"]["reason_text"] == "No longer needed."


def test_a_quote_accepted_makes_no_event_and_expiry_is_a_failure(app, world):
    user, staff = world["user"], world["staff"]
    referent = make_user(
        "referent@lab-w.test", entity=user.entity, entity_role="referent", language="en"
    )
    from dinamis.quota.models import PriceRule

    db.session.add(
        PriceRule(
            profile_id=user.entity.profile_id,
            sensor="pleiades",
            order_kind="tasking",
            eur_per_km2=Decimal("1.80"),
        )
    )
    order = orders.submit_tasking(user, tasking(side_deg=0.9), today=TODAY)
    assert order.status == "awaiting_quote"
    orders.decide_quote(referent, order, accept=True)  # the quote's validity counts from today
    orders.review(staff, order, accept=True, comment="")
    orders.expire_windows(order.window_end + dt.timedelta(days=1))
    assert [(e["type"], e["data"]["dinamis_status"]) for e in _events(world["hook"])] == [
        ("order.received", "awaiting_quote"),
        ("order.accepted", "accepted"),
        ("order.failed", "expired"),
    ]
    assert _events(world["hook"])[-1]["data"]["status"]["status_code"] == "expired"


def test_the_same_step_twice_is_one_event(world):
    order = orders.submit_tasking(world["user"], tasking(), today=TODAY)
    events.order_changed(db.session, order, "draft", "under_review", events.Taken(utcnow()))
    assert len(_events(world["hook"])) == 1


def _dsm_request(cast, scene_id):
    from dinamis.accounts import service as accounts

    user = accounts.get_user_by_email(cast.user_a)
    hook, _secret = service.create(user, url="http://127.0.0.1:9/dsm")
    ask = dsm.DsmAsk(
        scene_id=scene_id,
        aoi=None,
        resolution_m=None,
        project_title="Dunes",
        project_description="Heights of the coastal dunes.",
        theme="coast",
    )
    return user, hook, dsm.submit(user, ask)


def test_a_real_surface_model_request_on_the_webhook_channel(app, cast, loopback):
    """A surface model's steps are told as an order's: after the fact, from the step."""
    from tests.dsm.helpers import make_world

    with app.app_context():
        world = make_world([cast.entity_a, cast.entity_b])
        user, hook, request = _dsm_request(cast, world.pair[0])
        dsm.cancel(user, request, "wrong area")
        sent = _events(hook)
        assert [(e["type"], e["data"]["status"]["status_code"]) for e in sent] == [
            ("order.accepted", "accepted"),
            ("order.cancelled", "canceled"),
        ]
        assert sent[0]["data"]["order"]["type"] == "surface_model"
        assert sent[0]["data"]["order"]["number"] == request.number
        assert sent[0]["data"]["order"]["url"].endswith(f"/dsm/{request.id}")
        assert "api_url" not in sent[0]["data"]["order"]
        assert sent[1]["data"]["status"]["reason_text"] is None  # a request's own words
        assert (sent[1]["data"]["dinamis_status"], sent[1]["data"]["previous_dinamis_status"]) == (
            "cancelled",
            "queued",
        )


def test_a_surface_model_failure_carries_its_code_and_its_computation_makes_no_event(
    app, cast, loopback
):
    """Running is progress (no event), a retry makes none either; the failure carries the
    code its step recorded, and the time the step was taken."""
    from dinamis.dsm.models import DsmEvent
    from tests.dsm.helpers import make_world

    with app.app_context():
        world = make_world([cast.entity_a, cast.entity_b])
        _user, hook, request = _dsm_request(cast, world.pair[0])
        assert dsm.start(request.id, None) is not None  # queued -> running
        assert dsm.retry(request.id, "retry_transient", "lost the scratch disk")
        assert dsm.start(request.id, None) is not None
        assert dsm.fail_by_id(request.id, "timeout", "took 3 hours")
        request.failure_code = None  # what the request says now is not what the step said
        sent = _events(hook)
        assert [e["type"] for e in sent] == ["order.accepted", "order.failed"]
        failed = sent[1]["data"]
        assert failed["status"]["status_code"] == "failed"
        assert failed["status"]["reason_code"] == "timeout"
        assert (failed["dinamis_status"], failed["previous_dinamis_status"]) == (
            "failed",
            "running",
        )
        assert "delivery" not in failed
        step = db.session.scalars(
            select(DsmEvent).where(DsmEvent.request_id == request.id).order_by(DsmEvent.id)
        ).all()[-1]
        stamp = step.created_at.astimezone(dt.UTC).isoformat(timespec="seconds")
        assert failed["status"]["timestamp"] == stamp.replace("+00:00", "Z")
