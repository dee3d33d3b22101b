"""Rate limits shared between processes, trusted proxies, and no lock-out by e-mail."""

from __future__ import annotations

import dataclasses
import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from flask import Flask

from dinamis import trust_proxies
from dinamis.config import ConfigError, Settings
from tests.conftest import PASSWORD
from tests.helpers import csrf_token
from tests.membership.test_membership import (  # noqa: F401 - the fixture
    _details,
    _link,
    _request,
    _start,
    documents,
)

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379/0"


def test_production_refuses_per_process_rate_limits():
    production = Settings(env="production", secret_key="k" * 40)
    with pytest.raises(ConfigError, match="DINAMIS_RATELIMIT_STORAGE_URI"):
        production.validate()
    dataclasses.replace(production, ratelimit_storage_uri=REDIS).validate()
    Settings(env="development").validate()  # `make run` needs no Redis
    with pytest.raises(ConfigError, match="DINAMIS_TRUSTED_PROXIES"):
        Settings(trusted_proxies=-1).validate()


@contextmanager
def _limited(app, limit):
    settings = app.config["DINAMIS_SETTINGS"]
    app.config["DINAMIS_SETTINGS"] = dataclasses.replace(settings, login_rate_limit=limit)
    try:
        yield
    finally:
        app.config["DINAMIS_SETTINGS"] = settings


def _attempt(client, email, password="wrong-password-x", **kwargs):  # noqa: S107
    token = csrf_token(client, "/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, **kwargs
    ).status_code


def test_failing_on_purpose_does_not_lock_the_owner_out(app, cast):
    owner = app.test_client()
    with _limited(app, "3 per minute"):
        assert _attempt(owner, cast.user_a, PASSWORD) == 302  # the owner's browser, known now
        owner.post("/logout", data={"csrf_token": csrf_token(owner, "/account")})
        # Attackers from three addresses exhaust the account's shared count.
        for n in range(4):
            attacker = app.test_client()
            status = _attempt(attacker, cast.user_a, environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
        assert status == 429
        # The owner's browser still signs in (its own count), from its usual address.
        assert (
            _attempt(owner, cast.user_a, PASSWORD, environ_base={"REMOTE_ADDR": "10.9.9.9"}) == 302
        )


def test_a_forged_or_foreign_device_cookie_gives_no_count_of_its_own(app, cast):
    other = app.test_client()
    with _limited(app, "2 per minute"):
        assert _attempt(other, cast.user_b, PASSWORD) == 302  # a device cookie for user_b
        other.post("/logout", data={"csrf_token": csrf_token(other, "/account")})
        statuses = [
            _attempt(other, cast.user_a, environ_base={"REMOTE_ADDR": f"10.1.0.{n}"})
            for n in range(3)
        ]
        assert statuses == [401, 401, 429]  # user_b's cookie does not count for user_a
        forged = app.test_client()
        forged.set_cookie("dinamis_device", "forged.value")
        assert _attempt(forged, cast.user_a, environ_base={"REMOTE_ADDR": "10.2.0.1"}) == 429


def test_sign_ins_that_succeed_do_not_use_up_the_account_count(app, cast):
    with _limited(app, "2 per minute"):
        for n in range(4):
            client = app.test_client()
            assert (
                _attempt(client, cast.user_a, PASSWORD, environ_base={"REMOTE_ADDR": f"10.3.0.{n}"})
                == 302
            )


# Trusted proxies -----------------------------------------------------------------


@contextmanager
def _behind_proxies(app, count):
    original = app.wsgi_app
    trust_proxies(app, count)
    try:
        yield
    finally:
        app.wsgi_app = original


def test_the_client_address_comes_from_the_trusted_proxy_only(app, cast):
    with _limited(app, "2 per minute"), _behind_proxies(app, 1):
        statuses = []
        for n in range(3):
            client = app.test_client()
            # The client's own claim (1.1.1.1) comes first; the proxy appends the peer.
            headers = {"X-Forwarded-For": f"1.1.1.1, 192.0.2.{n}"}
            statuses.append(_attempt(client, f"x{n}@labo-a.test", headers=headers))
        assert statuses == [401, 401, 401]  # three clients, not one
    with _limited(app, "2 per minute"):  # no proxy trusted: the header is ignored
        statuses = [
            _attempt(
                app.test_client(),
                f"y{n}@labo-a.test",
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
                environ_base={"REMOTE_ADDR": "198.51.100.7"},
            )
            for n in range(3)
        ]
        assert statuses == [401, 401, 429]


def test_the_legal_representatives_address_is_the_clients(app, client, cast, documents):  # noqa: F811
    from sqlalchemy import select

    from dinamis.extensions import db
    from dinamis.membership.models import LegalDocument

    assert _start(client).status_code == 200
    path = _link(app, "rita@lab-new.test", "/join/details/")
    assert _details(client, path).status_code == 200
    legal = _link(app, "director@lab-new.test", "/join/legal/")
    with app.app_context():
        ids = [d.id for d in db.session.scalars(select(LegalDocument))]
    token = csrf_token(client, legal)
    with _behind_proxies(app, 1):
        response = client.post(
            legal,
            data={
                "name": "Léa Director",
                "function": "Director",
                "documents": ids,
                "csrf_token": token,
            },
            headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"},
        )
    assert response.status_code == 200
    assert _request(app).legal_rep_ip == "203.0.113.9"


def test_proxies_are_trusted_only_when_configured():
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = Flask("x")
    trust_proxies(app, 0)
    assert not isinstance(app.wsgi_app, ProxyFix)
    trust_proxies(app, 2)
    assert isinstance(app.wsgi_app, ProxyFix) and app.wsgi_app.x_for == 2


# Shared storage, for real: three gunicorn workers and Redis ---------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS, socket_timeout=1).ping())
    except redis.RedisError:
        return False


# CI starts Redis on 127.0.0.1:6379: there the test must run, not be skipped.
@pytest.mark.skipif(
    not os.environ.get("CI") and not _redis_up(), reason="Redis is not running on 127.0.0.1:6379"
)
def test_three_workers_share_one_sign_in_limit(database_url, tmp_path):
    port = _free_port()
    prefix = "dinamis-test-" + secrets.token_hex(4)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DINAMIS_")},
        "DATABASE_URL": database_url,
        "DINAMIS_ENV": "production",
        "DINAMIS_SECRET_KEY": "s" * 40,
        "DINAMIS_BASE_URL": f"http://127.0.0.1:{port}",
        "DINAMIS_RATELIMIT_STORAGE_URI": REDIS,
        "DINAMIS_RATELIMIT_KEY_PREFIX": prefix,
        "DINAMIS_LOGIN_RATE_LIMIT": "10 per minute",
        "DINAMIS_STORAGE_ROOT": str(tmp_path),
        "DINAMIS_LOG_JSON": "false",
        "DINAMIS_LOG_LEVEL": "ERROR",
    }
    server = subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "-m", "gunicorn", "--preload", "-w", "3", "-b", f"127.0.0.1:{port}",
         "--timeout", "120", "dinamis.wsgi:make_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300  # a machine busy with other work starts slowly
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("GET", "/login")
                page = conn.getresponse()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        html = page.read().decode()
        cookie = page.getheader("Set-Cookie").split(";")[0]
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        statuses = []
        for n in range(40):
            # A new connection each time: gunicorn hands them to its three workers in turn.
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            body = f"email=nobody{n}%40example.org&password=wrong-password&csrf_token={token}"
            conn.request(
                "POST", "/login", body=body,
                headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
            )  # fmt: skip
            statuses.append(conn.getresponse().status)
            conn.close()
        assert statuses.count(401) == 10, statuses
        assert statuses.count(429) == 30
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
