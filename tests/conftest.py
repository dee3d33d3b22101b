"""Test fixtures: one real PostGIS database per run, each test rolled back.

The database is created for the run (never the development database),
migrated with Alembic, and dropped at the end. Each test runs inside one
outer transaction on one connection; the application's sessions join it with
savepoints, so a request's commit is real for the test and undone after it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from flask import Flask
from flask.testing import FlaskClient
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from dinamis import create_app
from dinamis.config import DEFAULT_DATABASE_URL
from dinamis.core.migrate import alembic_config
from dinamis.extensions import db as database
from dinamis.extensions import limiter

PASSWORD = "correct-horse-battery"


def _server_url() -> str:
    url = os.environ.get("DINAMIS_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    url = url or DEFAULT_DATABASE_URL
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def create_database(name: str) -> str:
    server = _server_url()
    with psycopg.connect(_with_db(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_db(server, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def drop_database(name: str) -> None:
    with psycopg.connect(_with_db(_server_url(), "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def unique_db_name(purpose: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"dinamis_test_{purpose}_{worker}_{secrets.token_hex(4)}"


@contextmanager
def database_at(app: Flask, purpose: str, revision: str) -> Iterator[tuple[Config, Engine]]:
    """A scratch database migrated up to `revision`, the app's session bound to it, dropped
    after: a migration's test writes rows there, then upgrades."""
    name = unique_db_name(purpose)
    url = create_database(name)
    config = alembic_config(url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, revision)
    engine = create_engine(url)
    database.bind(sessionmaker(bind=engine, expire_on_commit=False), app)
    try:
        yield config, engine
    finally:
        engine.dispose()
        drop_database(name)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = unique_db_name("run")
    url = create_database(name)
    try:
        config = alembic_config(url)
        config.attributes["configure_logging"] = False
        command.upgrade(config, "heads")
        yield url
    finally:
        drop_database(name)


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return create_app(
        {
            "env": "test",
            "storage_root": str(tmp_path_factory.mktemp("storage")),
            "database_url": database_url,
            "secret_key": "test-secret-key-" + "x" * 32,
            "login_rate_limit": "1000 per minute",
            "log_json": False,
            "log_level": "WARNING",
        }
    )


@pytest.fixture(scope="session")
def engine(app: Flask) -> Engine:
    return database.engine_of(app)


@pytest.fixture(autouse=True)
def _transaction(app: Flask, engine: Engine) -> Iterator[None]:
    """Every test inside one transaction, rolled back at the end."""
    connection = engine.connect()
    outer = connection.begin()
    database.bind(
        sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        ),
        app,
    )
    limiter.reset()
    try:
        yield
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass(frozen=True)
class Cast:
    """The standard people of a test: staff and two entities with a Referent and a user."""

    staff: str
    referent_a: str
    user_a: str
    referent_b: str
    user_b: str
    entity_a: int
    entity_b: int


@pytest.fixture
def cast(app: Flask) -> Cast:
    from dinamis.core.transaction import commit
    from tests.factories import make_entity, make_user

    with app.app_context():
        a = make_entity("Laboratoire A", profile_code="research-fr")
        b = make_entity("Agence B", profile_code="public-fr")
        staff = make_user("staff@dinamis.test", role="staff")
        ra = make_user("referent.a@labo-a.test", entity=a, entity_role="referent")
        ua = make_user("user.a@labo-a.test", entity=a)
        rb = make_user("referent.b@agence-b.test", entity=b, entity_role="referent", language="en")
        ub = make_user("user.b@agence-b.test", entity=b, language="en")
        commit()
        return Cast(staff.email, ra.email, ua.email, rb.email, ub.email, a.id, b.id)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> None:
    """Sign in through the real form (with its CSRF token)."""
    from tests.helpers import csrf_token

    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
