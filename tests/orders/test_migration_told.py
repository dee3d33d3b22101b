"""Migration 0039: an order's steps carry when their requester was told (`told_at`).

A scratch database at 0038 gets an order and its steps written as the application
wrote them then (told in the request that took them), goes up to 0039 and down
again: the old steps come up told at their own time, a new step is untold and
found by the partial index's condition, and going down drops the mark.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from geoalchemy2.shape import from_shape

from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.orders.models import Order, OrderKind, Status
from tests.conftest import database_at
from tests.factories import make_entity, make_user
from tests.helpers import check_steps_told_migration
from tests.orders.helpers import square

BEFORE, AFTER = "0038_webhook_previous_secret", "0039_order_events_told"


@pytest.fixture
def scratch(app):
    with database_at(app, "order_told", BEFORE) as scratch:
        yield scratch


def test_old_steps_come_up_told_at_their_time_and_new_ones_untold(app, scratch):
    with app.app_context():
        entity = make_entity("Lab M")
        user = make_user("user@lab-m.test", entity=entity)
        order = Order(
            kind=OrderKind.TASKING,
            status=Status.ACCEPTED,
            entity_id=entity.id,
            requester_id=user.id,
            sensor="pleiades",
            aoi=from_shape(square(0.1), srid=4326),
            aoi_km2=Decimal("87.50"),
            charged_km2=Decimal("87.50"),
            family="tasking",
            period="2027",
            window_start=dt.date(2027, 4, 1),
            window_end=dt.date(2027, 5, 1),
            project_title="Old order",
            project_description="Written before 0039.",
            justification="Test.",
            theme="coast",
        )
        db.session.add(order)
        db.session.flush()
        order_id = order.id
        commit()
    check_steps_told_migration(
        scratch,
        BEFORE,
        AFTER,
        table="order_events",
        parent=("order_id", order_id),
        steps=[
            ("draft", "under_review", "2027-03-01 10:00+00"),
            ("under_review", "accepted", "2027-03-02 11:00+00"),
        ],
        later=("accepted", "delivered"),
    )
