"""Many concurrent reservations never take the same km² twice.

This test needs real commits from several connections at once, which the
rolled-back test transaction cannot give: it runs on a scratch database of
its own, migrated to head and dropped afterwards.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from dinamis.core.migrate import alembic_config
from dinamis.core.transaction import commit, rollback
from dinamis.extensions import db
from dinamis.quota import service
from dinamis.quota.models import Family
from tests.conftest import create_database, drop_database, unique_db_name
from tests.factories import make_entity

THREADS = 12
EACH = Decimal("15")
ALLOWANCE = Decimal("100")


@pytest.fixture
def scratch(app):
    name = unique_db_name("ledger")
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


def test_concurrent_reservations_never_overdraw(app, scratch):
    with app.app_context():
        entity = make_entity("Lab Concurrent")
        service.grant(entity, Family.TASKING, "2027", ALLOWANCE)
        commit()
        entity_id = entity.id

    barrier = threading.Barrier(THREADS)
    results: list[service.Split] = []
    errors: list[BaseException] = []

    def submit(n: int) -> None:
        with app.app_context():
            try:
                from dinamis.membership.models import Entity

                target = db.session.get(Entity, entity_id)
                barrier.wait()
                split = service.reserve(target, Family.TASKING, "2027", EACH, f"order:{n}")
                commit()
                results.append(split)
            except BaseException as exc:  # reported below
                rollback()
                errors.append(exc)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert len(results) == THREADS
    free = sum((r.free for r in results), Decimal(0))
    cofunded = sum((r.cofunded for r in results), Decimal(0))
    assert free == ALLOWANCE
    assert free + cofunded == EACH * THREADS
    with app.app_context():
        from dinamis.membership.models import Entity

        (balance,) = service.balances(db.session.get(Entity, entity_id))
        assert balance.available == 0
        assert balance.reserved == ALLOWANCE
        assert service.trial_balance() == 0
