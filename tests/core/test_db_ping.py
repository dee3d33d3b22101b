"""Pooled connections are tested before use only when they have been idle
(core.db.ping_when_idle): a connection in steady use costs no round trip more, and one
the server closed while it sat in the pool is replaced without the request seeing it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from dinamis.core import db as core_db


@pytest.fixture
def pinged(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, list]]:
    """An engine of its own, with one pooled connection, and the pings it makes."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    core_db.ping_when_idle(engine)
    pings: list = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or ping(c))
    try:
        yield engine, pings
    finally:
        engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged(pinged):
    engine, pings = pinged
    for _ in range(5):
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT 1")) == 1
    assert pings == []
    assert core_db.PING_AFTER_IDLE == 10.0


def test_an_idle_connection_the_server_closed_is_replaced(pinged, monkeypatch):
    engine, pings = pinged
    with engine.connect() as connection:
        first = connection.scalar(text("SELECT pg_backend_pid()"))
    with engine.connect() as other:  # the pool's one connection, again: not pinged
        assert other.scalar(text("SELECT pg_backend_pid()")) == first
    assert pings == []
    # The server ends that backend while it sits in the pool (a restart, an idle timeout).
    killer = create_engine(str(engine.url))
    with killer.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": first})
    killer.dispose()
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE", 0.0)  # it has now been idle long enough
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT pg_backend_pid()")) != first
    assert len(pings) == 1
