"""Concurrent decisions on one order: one wins, the others are told why, never a 500.

Twelve requests by the entity's Referent (accept, decline and cancel at once on
the same order awaiting its quote) answered two 500 "deadlock detected": one
path locked the ledger accounts then the order, another the order then the
accounts. Every change to an order now locks the order's row first, and a
request that still meets a deadlock or a serialization failure is run once
more. This needs real commits from several connections: a scratch database of
its own, migrated to head and dropped afterwards.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from dinamis.accounts.models import User
from dinamis.core.dates import today as scheme_today
from dinamis.core.migrate import alembic_config
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.orders import service as orders
from dinamis.orders.models import Order, Quote
from dinamis.quota import service as quota
from dinamis.quota.models import PriceRule
from tests.conftest import create_database, drop_database, login, unique_db_name
from tests.factories import make_entity, make_user
from tests.helpers import csrf_token
from tests.orders.helpers import tasking

THREADS = 12


@pytest.fixture
def scratch(app):
    name = unique_db_name("decide")
    url = create_database(name)
    config = alembic_config(url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "heads")
    engine = create_engine(url, pool_size=THREADS + 2)
    db.bind(sessionmaker(bind=engine, expire_on_commit=False), app)
    try:
        yield
    finally:
        engine.dispose()
        drop_database(name)


def _order_awaiting_its_quote(app) -> tuple[int, str]:
    today = scheme_today()
    with app.app_context():
        entity = make_entity("Lab Concurrent")
        referent = make_user("referent@lab.test", entity=entity, entity_role="referent")
        user = make_user("user@lab.test", entity=entity)
        db.session.add(
            PriceRule(
                profile_id=entity.profile_id,
                sensor="pleiades",
                order_kind="tasking",
                eur_per_km2=Decimal("1.80"),
            )
        )
        quota.grant(entity, "tasking", quota.period_for(today), Decimal("100"))
        order = orders.submit_tasking(
            user,
            tasking(
                0.2,
                window_start=today + dt.timedelta(days=10),
                window_end=today + dt.timedelta(days=70),
            ),
            today,
        )
        assert order.status == "awaiting_quote"
        commit()
        return order.id, referent.email


def test_concurrent_accept_decline_cancel_on_one_order(app, scratch):
    order_id, referent = _order_awaiting_its_quote(app)
    first = app.test_client()
    login(first, referent)
    token = csrf_token(first, f"/orders/{order_id}")
    cookie = first.get_cookie("dinamis_session")
    assert cookie is not None
    clients = []
    for _n in range(THREADS):
        client = app.test_client()
        client.set_cookie("dinamis_session", cookie.value)
        clients.append(client)
    actions = [
        f"/orders/{order_id}/quote/accept",
        f"/orders/{order_id}/quote/decline",
        f"/orders/{order_id}/cancel",
    ]
    barrier = threading.Barrier(THREADS)
    statuses: list[tuple[str, int]] = []
    failures: list[BaseException] = []

    def act(n: int) -> None:
        path = actions[n % len(actions)]
        try:
            barrier.wait()
            response = clients[n].post(path, data={"csrf_token": token, "comment": "x"})
            statuses.append((path, response.status_code))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=act, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures
    assert len(statuses) == THREADS
    assert {code for _path, code in statuses} <= {302, 409}, statuses  # never a 500
    won = sorted(path.rsplit("/", 1)[-1] for path, code in statuses if code == 302)
    with app.app_context():
        order = db.session.get(Order, order_id)
        (quote,) = db.session.scalars(select(Quote).where(Quote.order_id == order_id))
        # One decision on the quote wins; after an acceptance the Referent may
        # still cancel the order (under review), once.
        if quote.status == "accepted":
            assert won in (["accept"], ["accept", "cancel"]), statuses
            assert order.status == ("cancelled" if "cancel" in won else "under_review")
        else:
            assert quote.status == "declined"
            assert won in (["decline"], ["cancel"]), statuses
            assert order.status == "cancelled"
        assert quota.trial_balance() == 0
        (balance,) = quota.balances(order.entity)
        assert (balance.reserved > 0) == (order.status == "under_review")


def test_a_request_that_meets_a_deadlock_is_run_once_more(app, client, cast, monkeypatch, caplog):
    import psycopg
    from sqlalchemy.exc import OperationalError

    today = scheme_today()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == cast.user_a))
        quota.grant(user.entity, "tasking", quota.period_for(today), Decimal("1000"))
        order = orders.submit_tasking(
            user,
            tasking(
                window_start=today + dt.timedelta(days=10),
                window_end=today + dt.timedelta(days=70),
            ),
            today,
        )
        commit()
        order_id = order.id
    real_cancel = orders.cancel
    calls: list[int] = []

    def cancel_meeting_a_deadlock_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            real_cancel(*args, **kwargs)  # writes, then the database gives up on it
            raise OperationalError("UPDATE", {}, psycopg.errors.DeadlockDetected("deadlock"))
        return real_cancel(*args, **kwargs)

    monkeypatch.setattr(orders, "cancel", cancel_meeting_a_deadlock_first)
    login(client, cast.user_a)
    token = csrf_token(client, f"/orders/{order_id}")
    with caplog.at_level("WARNING", logger="dinamis.core.transaction"):
        response = client.post(f"/orders/{order_id}/cancel", data={"csrf_token": token})
    assert response.status_code == 302
    assert len(calls) == 2
    assert "DeadlockDetected, run once more" in caplog.text
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.status == "cancelled"
        assert [e.to_status for e in order.events] == ["under_review", "cancelled"]


def test_a_second_deadlock_is_a_503_to_retry_not_a_500(app, client, cast, monkeypatch):
    import psycopg
    from sqlalchemy.exc import OperationalError

    def always_deadlocked(*args, **kwargs):
        raise OperationalError("UPDATE", {}, psycopg.errors.DeadlockDetected("deadlock"))

    monkeypatch.setattr(orders, "cancel", always_deadlocked)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == cast.user_a))
        today = scheme_today()
        quota.grant(user.entity, "tasking", quota.period_for(today), Decimal("1000"))
        order = orders.submit_tasking(
            user,
            tasking(
                window_start=today + dt.timedelta(days=10),
                window_end=today + dt.timedelta(days=70),
            ),
            today,
        )
        commit()
        order_id = order.id
    login(client, cast.user_a)
    token = csrf_token(client, f"/orders/{order_id}")
    response = client.post(f"/orders/{order_id}/cancel", data={"csrf_token": token})
    assert response.status_code == 503
    assert response.headers["Retry-After"]
