"""The database: declarative base, engine and the per-request session.

Sessions are opened lazily per request (or per CLI command) and closed at the
end; committing is the job of `dinamis.core.transaction`, never of services.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from flask import Flask, current_app, g, has_app_context
from sqlalchemy import (
    CheckConstraint,
    Connection,
    DateTime,
    Engine,
    MetaData,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: DateTime(timezone=True)}


def sql_list(values: Iterable[str]) -> str:
    """The values as a list of SQL string literals: 'a', 'b' (quotes doubled)."""
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def one_of(column: str, values: Iterable[str], *, name: str) -> CheckConstraint:
    """CHECK (column IN (...)) from the tuple of a column's allowed values.

    A value added to the tuple needs a migration: tests/core/test_migrations.py
    compares every CHECK constraint of the migrated schema with the models'.
    """
    return CheckConstraint(f"{column} IN ({sql_list(values)})", name=name)


def database_objects(sql: str) -> None:
    """Declare functions and triggers the models rely on, as the migrations create
    them (the same SQL): `create_all` runs it once every table exists, and
    tests/core/test_migrations.py compares them with the migrated schema."""

    def create(_target: MetaData, connection: Connection, **_kw: Any) -> None:
        connection.exec_driver_sql(sql.replace("%", "%%"))  # no parameters: % is itself

    event.listen(Base.metadata, "after_create", create)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Set on every connection the app opens (web, API, CLI). The app's statements are
# short index reads and writes: compiling a plan with JIT or starting parallel
# workers cost tens of milliseconds for a page read in one (measured on the
# catalogue at 1,000,000 scenes). Set here rather than per transaction: one round
# trip less per request. Plans: see Database.custom_plans.
SESSION_SETTINGS = {
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
}


def connect_args(url: str) -> dict[str, str]:
    """psycopg's `options` with SESSION_SETTINGS, after any the URL gives (which win)."""
    given = make_url(url).query.get("options", "")
    given = given if isinstance(given, str) else " ".join(given)
    ours = " ".join(f"-c {name}={value}" for name, value in SESSION_SETTINGS.items())
    return {"options": f"{ours} {given}".strip()}


# orjson reads JSONB several times faster than the standard library, but turns an
# integer beyond 64 bits into a float: a text with such a long run of digits, or one
# orjson refuses (1e400, valid in JSONB), is read by the standard library instead.
# (Every digit made 0, then one substring search: 8 to 10 times cheaper than a regular
# expression's search, which cost 0.5 % of an order submitted through the API.)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def has_long_number(raw: bytes) -> bool:
    """Whether the text holds 19 digits in a row (in a number or a string)."""
    return _LONG_RUN in raw.translate(_DIGITS_AS_ZERO)


def json_loads(data: bytes | str) -> Any:
    """JSON as the standard library reads it, through orjson when that gives the same."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if not has_long_number(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


@dataclass
class _Bound:
    """One application's engine and the factory of its sessions."""

    engine: Engine
    factory: Callable[[], Session]


# A pooled connection idle for longer than this is tested (SELECT 1) before it is handed
# out, and replaced if the server has closed it (a restart, a killed backend, a timeout
# of the network). One in steady use is not: testing at every checkout (SQLAlchemy's
# pool_pre_ping) was one round trip more for every request, half of those of a STAC
# page read in one statement.
PING_AFTER_IDLE = 10.0


def ping_when_idle(engine: Engine) -> None:
    """Test the engine's pooled connections at checkout when idle for PING_AFTER_IDLE."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _test_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned")  # None: a new connection
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE:
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError from exc  # the pool connects anew and retries
            raise


class Database:
    """Hands out one session per application context, from the current app's engine.

    The engine and the session factory belong to the application (in
    `app.extensions`), not to this process-wide object: a second application
    made in the same process (a CLI inside a test, a server started by a
    test) has its own and leaves the first one's alone.
    """

    KEY = "dinamis_db"

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        engine = create_engine(
            url, future=True, connect_args=connect_args(url), json_deserializer=json_loads
        )
        ping_when_idle(engine)
        app.extensions[self.KEY] = _Bound(engine, sessionmaker(bind=engine, expire_on_commit=False))
        app.teardown_appcontext(self._teardown)

    def _bound(self, app: Flask | None = None) -> _Bound:
        if app is None:
            if not has_app_context():
                raise RuntimeError("The database needs an application context.")
            app = current_app._get_current_object()  # type: ignore[attr-defined]
        bound: _Bound | None = app.extensions.get(self.KEY)
        if bound is None:
            raise RuntimeError("Database.init_app() was not called for this application.")
        return bound

    def engine_of(self, app: Flask) -> Engine:
        """The engine of `app`, outside its context (test fixtures, benches)."""
        return self._bound(app).engine

    @property
    def engine(self) -> Engine:
        """The current application's engine."""
        return self._bound().engine

    def bind(self, factory: Callable[[], Session], app: Flask | None = None) -> None:
        """Replace an application's session factory (tests bind sessions to one transaction)."""
        self._bound(app).factory = factory

    def factory_of(self, app: Flask | None = None) -> Callable[[], Session]:
        return self._bound(app).factory

    @property
    def session(self) -> Session:
        """The session of the current application context, opened on first use."""
        if not has_app_context():
            raise RuntimeError("The database session needs an application context.")
        session: Session | None = g.get("_dinamis_session")
        if session is None:
            session = self._bound().factory()
            g._dinamis_session = session
        return session

    @contextmanager
    def custom_plans(self) -> Iterator[None]:
        """Statements run within are planned for their values, every time.

        psycopg prepares a statement it has run five times, after which
        PostgreSQL may settle on a generic plan that ignores the parameters:
        for a search's area or a dashboard's filters that can be ruinous (a
        catalogue search's next page went from 16 ms to 6 s at 1,000,000
        scenes). Within this block psycopg prepares nothing, so each statement
        is planned with its values. Elsewhere (orders, ledger, accounts: index
        reads and writes whose best plan does not depend on the values) a
        prepared statement keeps its plan: a third of PostgreSQL's CPU per
        order submission. Usable as a decorator.
        """
        raw = self.session.connection().connection.driver_connection
        assert raw is not None  # a checked-out connection has its psycopg connection
        before = raw.prepare_threshold
        raw.prepare_threshold = None
        try:
            yield
        finally:
            raw.prepare_threshold = before

    def has_session(self) -> bool:
        return has_app_context() and g.get("_dinamis_session") is not None

    @staticmethod
    def _teardown(exc: BaseException | None) -> None:
        session: Session | None = g.pop("_dinamis_session", None)
        if session is not None:
            if exc is not None or session.in_transaction():
                session.rollback()
            session.close()

    def get(self, model: type[Any], ident: Any) -> Any:
        return self.session.get(model, ident)
