"""Migration 0027: postings link to their order by a foreign key, filled from the data.

A scratch database at 0026 gets entities, orders and postings written as the
application wrote them then (references "order:<id>", some naming no order),
then goes up to 0027 and down again; the links, the running totals and the
triggers are checked with the data on both sides.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from alembic import command
from geoalchemy2.shape import from_shape
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.orders.models import Order, OrderKind, Status
from tests.conftest import database_at
from tests.factories import make_entity, make_user
from tests.orders.helpers import square

BEFORE, AFTER = "0026_saved_searches", "0027_ledger_order_link"


@pytest.fixture
def scratch(app):
    with database_at(app, "order_link", BEFORE) as scratch:
        yield scratch


def _order(entity_id: int, user_id: int, sensor: str) -> Order:
    order = Order(
        kind=OrderKind.TASKING,
        status=Status.UNDER_REVIEW,
        entity_id=entity_id,
        requester_id=user_id,
        sensor=sensor,
        aoi=from_shape(square(0.1), srid=4326),
        aoi_km2=Decimal("87.50"),
        charged_km2=Decimal("87.50"),
        family="tasking",
        period="2027",
        window_start=dt.date(2027, 4, 1),
        window_end=dt.date(2027, 5, 1),
        project_title="Old order",
        project_description="Written before 0027.",
        justification="Test.",
        theme="coast",
    )
    db.session.add(order)
    db.session.flush()
    return order


def _post(connection, kind: str, key: str, reference: str | None, moves) -> None:
    """A transaction and its entries, in raw SQL (the schema of 0026 has no order_id)."""
    tx = connection.execute(
        text(
            "INSERT INTO ledger_transactions (kind, idempotency_key, reference) "
            "VALUES (:kind, :key, :reference) RETURNING id"
        ),
        {"kind": kind, "key": key, "reference": reference},
    ).scalar_one()
    for account, amount in moves:
        connection.execute(
            text(
                "INSERT INTO ledger_entries (transaction_id, account_id, amount) "
                "VALUES (:tx, :account, :amount)"
            ),
            {"tx": tx, "account": account, "amount": amount},
        )


def _account(connection, entity_id: int | None, kind: str) -> int:
    return connection.execute(
        text(
            "INSERT INTO ledger_accounts (entity_id, family, period, kind) "
            "VALUES (:entity, 'tasking', '2027', :kind) RETURNING id"
        ),
        {"entity": entity_id, "kind": kind},
    ).scalar_one()


def _links(engine) -> dict[str, int | None]:
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT idempotency_key, order_id FROM ledger_transactions")
        )
        return {key: order_id for key, order_id in found}


def _totals(engine) -> dict[tuple[int, str | None], Decimal]:
    with engine.connect() as connection:
        return {
            (account, sensor): amount
            for account, sensor, amount in connection.execute(
                text("SELECT account_id, sensor, amount FROM ledger_totals WHERE amount <> 0")
            )
        }


def test_postings_are_linked_to_their_orders_up_and_down(app, scratch):
    config, engine = scratch
    with app.app_context():
        entity = make_entity("Lab Migration")
        user = make_user("old@lab.test", entity=entity)
        neo = _order(entity.id, user.id, "pleiades-neo")
        spot = _order(entity.id, user.id, "spot")
        commit()
        neo_id, spot_id = neo.id, spot.id
    with engine.begin() as connection:
        grants = _account(connection, None, "programme_grants")
        available = _account(connection, entity.id, "available")
        reserved = _account(connection, entity.id, "reserved")
        _post(connection, "grant", "grant", None, [(grants, -1000), (available, 1000)])
        for key, reference, amount in (
            ("r-neo", f"order:{neo_id}", 100),
            ("r-spot", f"order:{spot_id}", 30),
            ("r-garbled", "order:12abc", 5),  # names no order: stays unlinked
            ("r-missing", "order:999999", 7),  # an order that does not exist
            ("r-dsm", "dsm:4", 2),  # another domain's reference
        ):
            _post(connection, "reserve", key, reference, [(available, -amount), (reserved, amount)])
        # Released for the SPOT order, with the same reference.
        released = [(reserved, -30), (available, 30)]
        _post(connection, "release", "rel-spot", f"order:{spot_id}", released)
    totals_before = _totals(engine)
    assert totals_before[(reserved, "pleiades-neo")] == 100
    assert (reserved, "spot") not in totals_before  # reserved then released: nothing held

    command.upgrade(config, AFTER)
    assert _links(engine) == {
        "grant": None,
        "r-neo": neo_id,
        "r-spot": spot_id,
        "r-garbled": None,
        "r-missing": None,
        "r-dsm": None,
        "rel-spot": spot_id,
    }
    assert _totals(engine) == totals_before  # the same sums, nothing recounted
    with engine.begin() as connection:  # a new posting: its sensor found through the key
        tx = connection.execute(
            text(
                "INSERT INTO ledger_transactions (kind, idempotency_key, reference, order_id) "
                "VALUES ('reserve', 'r-neo-2', :reference, :order) RETURNING id"
            ),
            {"reference": f"order:{neo_id}", "order": neo_id},
        ).scalar_one()
        connection.execute(
            text(
                "INSERT INTO ledger_entries (transaction_id, account_id, amount) "
                "VALUES (:tx, :available, -11), (:tx, :reserved, 11)"
            ),
            {"tx": tx, "available": available, "reserved": reserved},
        )
    assert _totals(engine)[(reserved, "pleiades-neo")] == 111
    # The label and the link agree; the ledger cannot lose the order it names.
    mismatched = pytest.raises(IntegrityError, match="ck_ledger_transactions_order_reference")
    with mismatched, engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO ledger_transactions (kind, idempotency_key, reference, order_id)"
                " VALUES ('reserve', 'bad', 'order:1', :order)"
            ),
            {"order": spot_id},
        )
    restricted = pytest.raises(IntegrityError, match="fk_ledger_transactions_order_id_orders")
    with restricted, engine.begin() as connection:
        connection.execute(text("DELETE FROM orders WHERE id = :id"), {"id": neo_id})

    command.downgrade(config, BEFORE)
    with engine.connect() as connection:
        columns = connection.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'ledger_transactions'"
            )
        ).scalars()
        assert "order_id" not in set(columns)
    with engine.begin() as connection:  # 0015's trigger again: the sensor from the reference
        _post(
            connection,
            "reserve",
            "r-spot-2",
            f"order:{spot_id}",
            [(available, -4), (reserved, 4)],
        )
    assert _totals(engine)[(reserved, "spot")] == 4
    command.upgrade(config, AFTER)
    assert _links(engine)["r-spot-2"] == spot_id
