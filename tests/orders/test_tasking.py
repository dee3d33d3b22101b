"""Tasking requests: the rules, the ledger and every state change."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask_babel import force_locale
from shapely.geometry import box
from sqlalchemy import select

from dinamis.core.errors import Conflict, Forbidden, ServiceError
from dinamis.core.geo import geodesic_km2
from dinamis.core.mail import OutboxMessage
from dinamis.extensions import db
from dinamis.orders import service
from dinamis.orders.models import Status
from dinamis.quota import service as quota
from dinamis.quota.models import PriceRule
from tests.factories import make_entity, make_user
from tests.helpers import reference_km2
from tests.orders.helpers import TODAY, acquired, square, tasking

D = Decimal


@pytest.fixture
def world(app):
    with app.app_context(), force_locale("en"):
        entity = make_entity("Lab O", profile_code="research-fr")
        db.session.add(
            PriceRule(
                profile_id=entity.profile_id,
                sensor="pleiades",
                order_kind="tasking",
                eur_per_km2=D("1.80"),
            )
        )
        referent = make_user("ref@lab-o.test", entity=entity, entity_role="referent")
        user = make_user("user@lab-o.test", entity=entity)
        staff = make_user("staff@dinamis.test", role="staff")
        quota.grant(entity, "tasking", "2027", D("1000"))
        yield {"entity": entity, "referent": referent, "user": user, "staff": staff}


def _balance(entity):
    (b,) = [b for b in quota.balances(entity) if b.family == "tasking"]
    return b


def test_geodesic_area_of_a_known_square():
    # 1° x 1° at the equator: 12,308.78 km² on WGS84
    assert abs(geodesic_km2(square(1.0, 0.0, 0.0)) - D("12308.78")) < D("0.5")


def test_aoi_under_the_minimum_is_refused_with_the_computed_area(world):
    with pytest.raises(ServiceError) as refused:
        service.submit_tasking(world["user"], tasking(0.05), today=TODAY)
    area = reference_km2(square(0.05))
    assert f"{area} km²" in refused.value.message
    assert "at least 100 km²" in refused.value.message
    assert "aoi" in refused.value.fields


def test_window_rules(world):
    with pytest.raises(ServiceError) as early:
        service.submit_tasking(world["user"], tasking(window_start=TODAY), today=TODAY)
    assert "window_start" in early.value.fields
    with pytest.raises(ServiceError) as backwards:
        service.submit_tasking(
            world["user"],
            tasking(
                window_start=TODAY + dt.timedelta(days=20), window_end=TODAY + dt.timedelta(days=5)
            ),
            today=TODAY,
        )
    assert "window_end" in backwards.value.fields


def test_free_order_goes_to_review_and_reserves(world):
    order = service.submit_tasking(world["user"], tasking(0.15), today=TODAY)
    assert order.status == Status.UNDER_REVIEW
    assert order.free_km2 == order.charged_km2 == order.aoi_km2
    assert order.cofunded_km2 == 0
    assert _balance(world["entity"]).reserved == order.charged_km2


def test_stereo_doubles_the_charged_area(world):
    order = service.submit_tasking(world["user"], tasking(0.15, mode="stereo"), today=TODAY)
    assert order.charged_km2 == order.aoi_km2 * 2


def test_beyond_the_allowance_a_quote_waits_for_the_referent(app, world):
    order = service.submit_tasking(world["user"], tasking(0.5), today=TODAY)  # ~2,200 km²
    assert order.status == Status.AWAITING_QUOTE
    assert order.free_km2 == D("1000.00")
    assert order.cofunded_km2 == order.charged_km2 - D("1000.00")
    (quote,) = order.quotes
    assert quote.excluding_tax == (order.cofunded_km2 * D("1.80")).quantize(D("0.01"))
    assert quote.including_tax == quote.excluding_tax + quote.tax
    with pytest.raises(Forbidden):
        service.decide_quote(world["user"], order, accept=True)
    service.decide_quote(world["referent"], order, accept=True)
    assert order.status == Status.UNDER_REVIEW
    assert _balance(world["entity"]).cofunded_reserved == order.cofunded_km2


def test_declined_quote_cancels_and_releases(world):
    order = service.submit_tasking(world["user"], tasking(0.5), today=TODAY)
    service.decide_quote(world["referent"], order, accept=False)
    assert order.status == Status.CANCELLED
    b = _balance(world["entity"])
    assert (b.available, b.reserved) == (D("1000.00"), D("0.00"))


def test_expired_quote_cancels(world):
    order = service.submit_tasking(world["user"], tasking(0.5), today=TODAY)
    late = order.quotes[0].valid_until + dt.timedelta(days=1)
    with pytest.raises(Conflict, match="expired"):
        service.decide_quote(world["referent"], order, accept=True, today=late)
    assert order.status == Status.CANCELLED
    assert _balance(world["entity"]).available == D("1000.00")


def test_review_delivery_and_close(world):
    order = service.submit_tasking(world["user"], tasking(0.15), today=TODAY)
    with pytest.raises(Forbidden):
        service.review(world["referent"], order, accept=True, comment="")
    service.review(world["staff"], order, accept=True, comment="Feasible in April.")
    # The AOI is box(2, 45, 2.15, 45.15): one scene covers its west part, another the rest.
    day = TODAY + dt.timedelta(days=20)
    acquired("PHR_WEST", box(1.9, 44.9, 2.075, 45.2), day)
    acquired("PHR_EAST", box(2.075, 44.9, 2.3, 45.2), day)
    west = service.deliver(world["staff"], order, "PHR_WEST")
    assert west.km2 == reference_km2(box(2, 45, 2.075, 45.15))
    assert order.status == Status.PARTIALLY_DELIVERED
    service.deliver(world["staff"], order, "PHR_EAST")
    assert order.delivered_km2 == order.charged_km2
    assert order.status == Status.DELIVERED
    service.close(world["staff"], order)
    assert order.status == Status.CLOSED
    b = _balance(world["entity"])
    assert b.consumed == order.charged_km2 and b.reserved == 0
    assert [e.to_status for e in order.events] == [
        "under_review",
        "accepted",
        "partially_delivered",
        "delivered",
        "closed",
    ]
    assert quota.trial_balance() == 0


def test_rejection_needs_a_reason_and_releases(world):
    order = service.submit_tasking(world["user"], tasking(0.15), today=TODAY)
    with pytest.raises(ServiceError, match="reason"):
        service.review(world["staff"], order, accept=False, comment=" ")
    service.review(world["staff"], order, accept=False, comment="Outside the scheme's scope.")
    assert order.status == Status.REJECTED
    assert _balance(world["entity"]).available == D("1000.00")


def test_no_skipping_and_no_going_back(world):
    order = service.submit_tasking(world["user"], tasking(0.15), today=TODAY)
    with pytest.raises(Conflict):
        service.deliver(world["staff"], order, "X", D("10"))
    with pytest.raises(Conflict):
        service.close(world["staff"], order)
    service.review(world["staff"], order, accept=False, comment="No.")
    with pytest.raises(Conflict):
        service.review(world["staff"], order, accept=True, comment="Changed my mind.")
    with pytest.raises(Conflict):
        service.cancel(world["user"], order)


def test_user_cancels_before_acceptance(world):
    order = service.submit_tasking(world["user"], tasking(0.15), today=TODAY)
    other = make_user("other@lab-x.test")
    with pytest.raises(Forbidden):
        service.cancel(other, order)
    service.cancel(world["user"], order, "Found an archive image.")
    assert order.status == Status.CANCELLED
    assert _balance(world["entity"]).available == D("1000.00")


def test_window_expiry_releases_the_rest(world):
    order = service.submit_tasking(world["user"], tasking(0.15), today=TODAY)
    service.review(world["staff"], order, accept=True, comment="ok")
    part = box(2, 45, 2.05, 45.15)
    acquired("S1", part, TODAY + dt.timedelta(days=12))
    delivered = service.deliver(world["staff"], order, "S1").km2
    assert delivered == reference_km2(part)
    expired = service.expire_windows(today=order.window_end + dt.timedelta(days=1))
    assert order in expired and order.status == Status.EXPIRED
    b = _balance(world["entity"])
    assert (b.consumed, b.reserved, b.available) == (delivered, D("0.00"), 1000 - delivered)


def test_suspended_entity_cannot_order(world):
    world["entity"].status = "suspended"
    db.session.flush()
    with pytest.raises(Forbidden, match="not active"):
        service.submit_tasking(world["user"], tasking(0.15), today=TODAY)
    assert service.visible_orders(world["user"]) == []


def test_transitions_mail_the_requester_and_the_referent(world):
    service.submit_tasking(world["user"], tasking(0.5), today=TODAY)
    sent = {(m.to_address, m.template) for m in db.session.scalars(select(OutboxMessage))}
    assert sent == {("ref@lab-o.test", "order_quote")}  # the requester's: after the commit
    assert service.tell_steps() == 1
    sent = {(m.to_address, m.template) for m in db.session.scalars(select(OutboxMessage))}
    assert ("ref@lab-o.test", "order_quote") in sent
    assert ("user@lab-o.test", "order_status") in sent


def test_footprint_across_the_antimeridian_is_split():
    from dinamis.core.geo import parse_footprint

    crossing = {
        "type": "Polygon",
        "coordinates": [
            [[179.5, -17.0], [-179.5, -17.0], [-179.5, -16.0], [179.5, -16.0], [179.5, -17.0]]
        ],
    }
    footprint = parse_footprint(crossing)
    assert len(footprint.geoms) == 2
    minx, _, maxx, _ = footprint.bounds
    assert minx == -180 and maxx == 180
    assert abs(footprint.area - 1.0) < 1e-9  # one square degree, not the rest of the world


def test_minimum_area_can_differ_by_sensor(app, world):
    import dataclasses

    settings = app.config["DINAMIS_SETTINGS"]
    rules = dataclasses.replace(settings.orders, tasking_min_km2_by_sensor="spot=500")
    app.config["DINAMIS_SETTINGS"] = dataclasses.replace(settings, orders=rules)
    try:
        with pytest.raises(ServiceError, match="at least 500 km²"):
            service.submit_tasking(world["user"], tasking(0.15, sensor="spot"), today=TODAY)
        order = service.submit_tasking(world["user"], tasking(0.15), today=TODAY)  # Pléiades: 100
        assert order.status == Status.UNDER_REVIEW
    finally:
        app.config["DINAMIS_SETTINGS"] = settings


def test_per_sensor_minimums_are_validated():
    from dinamis.config import ConfigError, from_env

    assert (
        from_env({"DINAMIS_ORDERS_TASKING_MIN_KM2_BY_SENSOR": "spot=500"}).orders.tasking_min_for(
            "spot"
        )
        == 500
    )
    with pytest.raises(ConfigError, match="BY_SENSOR"):
        from_env({"DINAMIS_ORDERS_TASKING_MIN_KM2_BY_SENSOR": "spot:500"})


def test_submission_writes_the_order_its_event_its_mail_and_one_reserve_posting(world):
    """The submission's rows, read back from the database: what the order says it holds
    is what the ledger moved, and the requester's mail names the order's status."""
    from dinamis.orders.models import Order, OrderEvent
    from dinamis.quota.models import LedgerEntry, LedgerTransaction

    order = service.submit_tasking(world["user"], tasking(0.15), today=TODAY)
    db.session.expire_all()
    stored = db.session.get(Order, order.id)
    assert (stored.status, stored.free_km2, stored.cofunded_km2) == (
        Status.UNDER_REVIEW,
        stored.charged_km2,
        D("0.00"),
    )
    assert stored.submitted_at is not None
    events = db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id)).all()
    assert [(e.from_status, e.to_status, e.actor_id) for e in events] == [
        (Status.DRAFT, Status.UNDER_REVIEW, world["user"].id)
    ]
    (posting,) = db.session.scalars(
        select(LedgerTransaction).where(LedgerTransaction.reference == order.reference)
    ).all()
    assert posting.kind == "reserve"
    amounts = sorted(
        db.session.scalars(
            select(LedgerEntry.amount).where(LedgerEntry.transaction_id == posting.id)
        )
    )
    assert amounts == [-stored.free_km2, stored.free_km2]
    # The requester is told of the step after the commit, by the outbox worker, once.
    assert events[0].told_at is None
    assert service.tell_steps() == 1 and service.tell_steps() == 0
    (mail,) = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_address == "user@lab-o.test")
    ).all()
    assert order.number in mail.subject and order.number in mail.body_text
    db.session.refresh(events[0])
    assert events[0].told_at is not None


def test_a_submission_is_counted_under_its_sensor_as_it_is_posted(world):
    """The order is written before its reservation: the running totals count the
    reservation under the order's sensor at once, never under no sensor first (no
    row of the reserved account without a sensor, and the available account's
    holds only the grant)."""
    from dinamis.quota.models import LedgerTotal

    order = service.submit_tasking(world["user"], tasking(0.15), today=TODAY)
    rows = {
        (t.kind, t.sensor): t.amount
        for t in db.session.scalars(
            select(LedgerTotal).where(LedgerTotal.entity_id == world["entity"].id)
        )
    }
    assert rows == {
        ("available", None): D("1000.00"),
        ("available", "pleiades"): -order.free_km2,
        ("reserved", "pleiades"): order.free_km2,
    }


def test_a_posting_for_an_order_not_written_is_refused_at_once(world):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError, match="order_id"), db.session.begin_nested():
        quota.reserve(world["entity"], "tasking", "2027", D("10"), "order:0", order_id=0)


def test_a_reservation_with_nothing_free_posts_no_entries_and_a_retry_changes_nothing(world):
    entity = make_entity("Lab Empty")
    first = quota.reserve(entity, "tasking", "2027", D("150"), "order:900001")
    assert (first.free, first.cofunded) == (D("0.00"), D("150.00"))
    again = quota.reserve(entity, "tasking", "2027", D("150"), "order:900001")
    assert again == first
    b = _balance(entity)
    assert (b.available, b.reserved) == (D("0.00"), D("0.00"))
