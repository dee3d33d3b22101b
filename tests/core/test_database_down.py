"""PostgreSQL down: every request answers 503 with Retry-After, and /healthz says what is down.

An app is pointed at a port where no database listens (connections are refused
at once); before, every request that touched the database answered 500.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from flask import Flask

from dinamis import create_app
from dinamis.accounts.service import TOKEN_PREFIX
from dinamis.extensions import db

UNREACHABLE = "postgresql+psycopg://dinamis:secret@127.0.0.1:9/nowhere?connect_timeout=2"


@pytest.fixture
def down_app(tmp_path) -> Iterator[Flask]:
    """An application of its own whose database cannot be reached (the test app's is untouched)."""
    broken = create_app(
        {
            "env": "test",
            "storage_root": str(tmp_path),
            "database_url": UNREACHABLE,
            "secret_key": "test-secret-key-" + "x" * 32,
            "log_json": False,
            "log_level": "CRITICAL",
        }
    )
    try:
        yield broken
    finally:
        db.engine_of(broken).dispose()


def test_healthz_says_the_database_is_down(down_app):
    response = down_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = response.get_json()
    assert body["status"] == "error"
    assert body["down"] == ["database"]
    assert body["database"]["status"] == "unreachable"
    assert body["storage"]["status"] == "ok"


@pytest.mark.parametrize(
    "path", ["/catalogue/", "/stac/collections", "/api/v1/quota", "/join/account?q=lab"]
)
def test_a_request_needing_the_database_is_a_503_to_retry(down_app, path):
    client = down_app.test_client()
    response = client.get(
        path,
        headers={"Authorization": "Bearer " + TOKEN_PREFIX + "x" * 43, "Accept-Language": "en"}
        if path.startswith("/api/")
        else {"Accept-Language": "en"},
    )
    assert response.status_code == 503, path
    assert int(response.headers["Retry-After"]) > 0
    if path.startswith("/api/"):
        assert response.get_json()["error"]["code"] == "unavailable"
    elif path.startswith("/stac"):  # the OGC API shape
        assert response.get_json()["code"] == "unavailable"
    else:
        html = response.get_data(as_text=True)
        assert "The database cannot be reached" in html and "<nav" in html


def test_a_signed_in_users_page_is_a_styled_503_in_their_language(down_app):
    client = down_app.test_client()
    with client.session_transaction() as session:  # a session cookie from before the outage
        session["_user_id"] = "a-session-token"
        session["_fresh"] = True
        session["lang"] = "fr"
    response = client.get("/orders/")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    html = response.get_data(as_text=True)
    assert "La base de données est injoignable" in html and "<nav" in html


def test_healthz_says_when_storage_is_not_writable(app, client, tmp_path, monkeypatch):
    settings = app.config["DINAMIS_SETTINGS"]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setitem(
        app.config,
        "DINAMIS_SETTINGS",
        dataclasses.replace(settings, storage_root=str(blocker / "storage")),
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["down"] == ["storage"] and body["database"]["status"] == "ok"
