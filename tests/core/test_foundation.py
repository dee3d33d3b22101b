"""Settings, health, error pages, request ids, the mail outbox, oversize bodies, the CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket

import pytest
from sqlalchemy import select

from dinamis.config import ConfigError, MailSettings, from_env
from dinamis.core.db import utcnow
from dinamis.core.mail import MailStatus, OutboxMessage, deliver_due, queue_mail
from dinamis.core.transaction import commit
from dinamis.extensions import db
from tests.conftest import login
from tests.helpers import csrf_token


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DINAMIS_SECRETKEY": "x"}, "DINAMIS_SECRETKEY"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL"),
        ({"DINAMIS_MAIL_PORT": "abc"}, "DINAMIS_MAIL_PORT"),
        ({"DINAMIS_MAIL_PORT": "70000"}, "DINAMIS_MAIL_PORT"),
        ({"DINAMIS_ENV": "production"}, "DINAMIS_SECRET_KEY"),
        ({"DINAMIS_ENV": "staging"}, "DINAMIS_ENV"),
        ({"DINAMIS_RATELIMIT_ENABLED": "maybe"}, "DINAMIS_RATELIMIT_ENABLED"),
        ({"DINAMIS_DEFAULT_LANGUAGE": "de"}, "DINAMIS_DEFAULT_LANGUAGE"),
        ({"DINAMIS_ORDERS_TAX_RATE": "1.5"}, "DINAMIS_ORDERS_TAX_RATE"),
    ],
)
def test_bad_settings_are_named(env, named):
    with pytest.raises(ConfigError, match=named):
        from_env(env)


def test_defaults_are_valid_and_production_wants_secure_cookies():
    settings = from_env({})
    assert settings.env == "development" and not settings.secure_cookies
    production = from_env(
        {
            "DINAMIS_ENV": "production",
            "DINAMIS_SECRET_KEY": "s" * 40,
            "DINAMIS_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
        }
    )
    assert production.secure_cookies


def test_healthz_reports_the_database(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok" and body["database"]["postgis"]


def test_request_id_is_echoed_or_made(client):
    assert client.get("/", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert made and " " not in made


def test_security_headers_and_cookie_flags(client, cast):
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize(
    ("language", "text"), [("fr", "Page introuvable"), ("en", "Page not found")]
)
def test_404_page_in_both_languages(client, language, text):
    response = client.get("/no/such/page", headers={"Accept-Language": language})
    assert response.status_code == 404 and text in response.get_data(as_text=True)


def test_unknown_api_path_is_json(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_500_is_a_page_not_a_traceback_and_nothing_is_written(app, client, cast, monkeypatch):
    from dinamis.accounts import service

    def broken(*args, **kwargs):
        queue_mail("x@labo-a.test", "password_changed", user=None)
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "update_profile", broken)
    login(client, cast.user_a)
    token = csrf_token(client, "/account")
    response = client.post(
        "/account",
        data={"first_name": "A", "last_name": "B", "language": "fr", "csrf_token": token},
    )
    assert response.status_code == 500
    assert "Traceback" not in response.get_data(as_text=True)
    with app.app_context():
        assert (
            db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.to_address == "x@labo-a.test")
            ).all()
            == []
        )


def test_oversize_body_is_413(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    big = b"x" * (limit + 1)
    html = client.post("/login", data=big, content_type="application/x-www-form-urlencoded")
    assert html.status_code == 413
    api = client.post("/api/v1/me", data=big, content_type="application/json")
    assert api.status_code == 413


def test_json_body_helper_refuses_malformed_json(app):
    from dinamis.api.views import json_body
    from dinamis.core.errors import MalformedInput

    cases = [
        ("{oops", "application/json"),
        ("[1, 2]", "application/json"),
        ('{"a": 1}', "text/plain"),
    ]
    for body, content_type in cases:
        with app.test_request_context(
            "/api/v1/x", method="POST", data=body, content_type=content_type
        ):
            with pytest.raises(MalformedInput) as error:
                json_body()
            assert error.value.status == 400
    with app.test_request_context(
        "/api/v1/x", method="POST", data='{"a": 1}', content_type="application/json"
    ):
        assert json_body() == {"a": 1}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mail_survives_a_down_smtp_server_and_is_retried(app):
    settings = app.config["DINAMIS_SETTINGS"]
    down = dataclasses.replace(
        settings,
        mail=MailSettings(
            backend="smtp", host="127.0.0.1", port=_closed_port(), max_attempts=2, timeout=2
        ),
    )
    app.config["DINAMIS_SETTINGS"] = down
    try:
        with app.test_request_context():
            message_id = queue_mail("someone@labo-a.test", "password_changed", user=_FakeUser()).id
            commit()  # delivery is tried after the commit, and fails
            message = db.session.get(OutboxMessage, message_id, populate_existing=True)
            assert message.status == MailStatus.PENDING and message.attempts == 1
            assert message.last_error and message.next_attempt_at > utcnow()
            message.next_attempt_at = utcnow() - dt.timedelta(seconds=1)
            commit()
            deliver_due()  # second failure: given up
            message = db.session.get(OutboxMessage, message_id, populate_existing=True)
            assert message.status == MailStatus.FAILED
    finally:
        app.config["DINAMIS_SETTINGS"] = settings
    with app.test_request_context():
        message = db.session.get(OutboxMessage, message_id)
        message.status, message.next_attempt_at = MailStatus.PENDING, utcnow()
        commit()
        assert deliver_due() >= 1  # the log backend delivers it
        message = db.session.get(OutboxMessage, message_id, populate_existing=True)
        assert message.status == MailStatus.SENT


class _FakeUser:
    full_name = "Some One"


def test_cli_creates_users_and_tokens(app, cast):
    runner = app.test_cli_runner()
    made = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "new.person@labo-a.test",
            "--role",
            "user",
            "--entity",
            "Laboratoire A",
            "--password",
            "a-long-enough-password",
        ]
    )
    assert made.exit_code == 0, made.output
    unknown = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "x@y.test",
            "--entity",
            "Nope",
            "--password",
            "a-long-enough-password",
        ]
    )
    assert unknown.exit_code != 0 and "No entity" in unknown.output
    token = runner.invoke(args=["tokens", "create", "new.person@labo-a.test"])
    assert token.exit_code == 0
    clear = token.output.strip().splitlines()[-1]
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {clear}"})
    assert me.status_code == 200 and me.get_json()["email"] == "new.person@labo-a.test"


def test_seed_is_idempotent(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["seed"])
    assert "users: 0 added" in second.output and "entities: 0 added" in second.output
