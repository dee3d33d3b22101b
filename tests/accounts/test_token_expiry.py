"""API tokens expire: chosen at creation within a configured maximum, shown, reminded."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from sqlalchemy import select

from dinamis.accounts import service
from dinamis.accounts.models import ApiToken
from dinamis.config import ConfigError, Settings
from dinamis.core.errors import ServiceError
from dinamis.core.transaction import commit
from dinamis.extensions import db
from tests.conftest import login
from tests.helpers import csrf_token, outbox


def _create(client, **data):
    token = csrf_token(client, "/account")
    return client.post("/account/tokens", data={"csrf_token": token, **data})


def _stored(app):
    with app.app_context():
        tokens = db.session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
        db.session.expunge_all()
        return tokens


def test_a_token_gets_the_default_lifetime_and_shows_it(app, client, cast):
    login(client, cast.user_a)
    page = _create(client, name="laptop")
    assert page.status_code == 200
    (token,) = _stored(app)
    lifetime = token.expires_at - token.created_at
    assert abs(lifetime - dt.timedelta(days=90)) < dt.timedelta(minutes=5)
    profile = client.get("/account").get_data(as_text=True)
    assert 'name="days"' in profile and 'value="90"' in profile
    assert str(token.expires_at.year) in profile.split('id="tokens"')[1]


def test_the_lifetime_is_chosen_within_the_maximum(app, client, cast):
    login(client, cast.user_a)
    assert _create(client, name="short", days="7").status_code == 200
    (token,) = _stored(app)
    assert abs(token.expires_at - token.created_at - dt.timedelta(days=7)) < dt.timedelta(minutes=5)
    for days in ("0", "366", "-3"):
        refused = _create(client, name="long", days=days)
        assert refused.status_code == 422
        assert "365" in refused.get_data(as_text=True)
    assert _create(client, name="nan", days="abc").status_code == 422
    assert len(_stored(app)) == 1


def test_an_expired_token_is_refused_and_shown_as_expired(app, client, cast):
    with app.app_context():
        user = service.get_user_by_email(cast.user_a)
        token, clear = service.create_api_token(user, "old", 1)
        commit()
        headers = {"Authorization": f"Bearer {clear}"}
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        token.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    login(client, cast.user_a)
    assert "expired" in client.get("/account", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    ) or "expiré" in client.get("/account").get_data(as_text=True)


def test_the_owner_is_reminded_once_before_the_end(app, cast):
    with app.app_context():
        user = service.get_user_by_email(cast.user_b)
        soon, _ = service.create_api_token(user, "ci-runner", 5)
        later, _ = service.create_api_token(user, "laptop", 30)
        revoked, _ = service.create_api_token(user, "gone", 3)
        service.revoke_api_token(user, revoked.id)
        assert service.remind_expiring_tokens() == [soon]
        assert service.remind_expiring_tokens() == []  # once
        in_25_days = dt.datetime.now(dt.UTC) + dt.timedelta(days=25)
        assert service.remind_expiring_tokens(in_25_days) == [later]
        commit()
    mails = [m for m in outbox(app, to=cast.user_b) if "ci-runner" in m.body_text]
    assert len(mails) == 1 and "/account#tokens" in mails[0].body_text
    assert "expires soon" in mails[0].subject  # user_b reads English


def test_the_remind_command(app, cast):
    with app.app_context():
        user = service.get_user_by_email(cast.user_a)
        service.create_api_token(user, "ci", 2)
        commit()
    result = app.test_cli_runner().invoke(args=["tokens", "remind"])
    assert result.exit_code == 0, result.output
    assert re.search(r"1 reminder", result.output)


def test_the_service_refuses_a_lifetime_beyond_the_maximum(app, cast):
    with app.app_context():
        user = service.get_user_by_email(cast.user_a)
        settings = app.config["DINAMIS_SETTINGS"]
        app.config["DINAMIS_SETTINGS"] = dataclasses.replace(settings, token_max_days=30)
        try:
            with pytest.raises(ServiceError) as refused:
                service.create_api_token(user, "x", 31)
            assert "days" in refused.value.fields
        finally:
            app.config["DINAMIS_SETTINGS"] = settings


def test_lifetime_settings_are_checked():
    with pytest.raises(ConfigError, match="DINAMIS_TOKEN"):
        Settings(token_default_days=400, token_max_days=365).validate()
