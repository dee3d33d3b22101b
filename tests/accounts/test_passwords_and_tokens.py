"""Password reset, password change, API tokens, rate limit, CSRF."""

from __future__ import annotations

import dataclasses
import re
import time

from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from dinamis.accounts import service
from dinamis.accounts.models import ApiToken, User
from dinamis.extensions import db
from tests.conftest import PASSWORD, login
from tests.helpers import csrf_token, outbox

NEW = "another-long-password"


def _user(app, email):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge_all()
        return user


def _reset_link(app, client, email):
    client.post(
        "/forgot-password",
        data={"email": email, "csrf_token": csrf_token(client, "/forgot-password")},
    )
    body = outbox(app, to=email)[-1].body_text
    return re.search(r"/reset-password/\S+", body).group(0)


def test_reset_flow_and_the_link_works_once(app, client, cast):
    path = _reset_link(app, client, cast.user_a)
    token = csrf_token(client, path)
    done = client.post(path, data={"password": NEW, "confirm": NEW, "csrf_token": token})
    assert done.status_code == 302
    login(client, cast.user_a, NEW)
    reused = client.get(path)
    assert reused.status_code == 400
    assert "already been used" in reused.get_data(as_text=True) or "déjà servi" in reused.get_data(
        as_text=True
    )


def test_expired_and_forged_links_are_refused(app, client, cast):
    user = _user(app, cast.user_a)
    max_age = app.config["DINAMIS_SETTINGS"].password_reset_max_age

    class SignedLongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - max_age - 10

    with app.app_context():
        serializer = URLSafeTimedSerializer(
            app.config["SECRET_KEY"], salt=service.RESET_SALT, signer=SignedLongAgo
        )
        fresh_user = db.session.get(User, user.id)
        payload = {"u": user.id, "f": service._reset_fingerprint(fresh_user)}
    old = serializer.dumps(payload)
    expired = client.get(f"/reset-password/{old}")
    assert expired.status_code == 400
    assert "expir" in expired.get_data(as_text=True)
    forged = client.get("/reset-password/" + old[:-3] + "abc")
    assert forged.status_code == 400


def test_unknown_email_gets_the_same_answer_and_no_mail(app, client, cast):
    before = len(outbox(app))
    response = client.post(
        "/forgot-password",
        data={"email": "nobody@nowhere.test", "csrf_token": csrf_token(client, "/forgot-password")},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert len(outbox(app)) == before


def test_mismatched_or_short_new_passwords_change_nothing(app, client, cast):
    path = _reset_link(app, client, cast.user_a)
    token = csrf_token(client, path)
    before = _user(app, cast.user_a).password_hash
    short = client.post(path, data={"password": "short", "confirm": "short", "csrf_token": token})
    differ = client.post(path, data={"password": NEW, "confirm": NEW + "x", "csrf_token": token})
    assert short.status_code == differ.status_code == 422
    assert _user(app, cast.user_a).password_hash == before


def test_change_password_ends_other_sessions(app, cast):
    first, second = app.test_client(), app.test_client()
    login(first, cast.user_a)
    login(second, cast.user_a)
    token = csrf_token(first, "/account")
    wrong = first.post(
        "/account/password",
        data={"current_password": "nope", "password": NEW, "confirm": NEW, "csrf_token": token},
    )
    assert wrong.status_code == 422
    ok = first.post(
        "/account/password",
        data={"current_password": PASSWORD, "password": NEW, "confirm": NEW, "csrf_token": token},
    )
    assert ok.status_code == 302
    assert first.get("/account").status_code == 200
    assert second.get("/account").status_code == 302  # signed out
    assert _user(app, cast.user_a).password_hash.startswith("$argon2id$")


def test_api_token_created_once_stored_hashed_and_revocable(app, client, cast):
    login(client, cast.user_a)
    token = csrf_token(client, "/account")
    page = client.post("/account/tokens", data={"name": "laptop", "csrf_token": token})
    clear = re.search(r'id="new-token">([^<]+)<', page.get_data(as_text=True)).group(1)
    assert client.get("/account").get_data(as_text=True).count(clear) == 0
    with app.app_context():
        stored = db.session.scalars(select(ApiToken)).all()
        assert all(clear not in (t.token_hash, t.prefix) for t in stored)
        token_id = stored[-1].id
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {clear}"})
    assert me.status_code == 200 and me.json["email"] == cast.user_a
    client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {clear}"}).status_code == 401


def test_someone_elses_token_cannot_be_revoked(app, client, cast):
    with app.app_context():
        owner = service.get_user_by_email(cast.user_b)
        other_token, clear = service.create_api_token(owner, "b")
        from dinamis.core.transaction import commit

        commit()
        token_id = other_token.id
    login(client, cast.user_a)
    token = csrf_token(client, "/account")
    assert (
        client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": token}).status_code
        == 403
    )
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {clear}"}).status_code == 200


def test_login_is_rate_limited(app, client, cast):
    settings = app.config["DINAMIS_SETTINGS"]
    app.config["DINAMIS_SETTINGS"] = dataclasses.replace(settings, login_rate_limit="3 per minute")
    try:
        token = csrf_token(client, "/login")
        codes = [
            client.post(
                "/login", data={"email": cast.user_a, "password": "bad", "csrf_token": token}
            ).status_code
            for _ in range(4)
        ]
    finally:
        app.config["DINAMIS_SETTINGS"] = settings
    assert codes == [401, 401, 401, 429]


def test_suspended_and_pending_users_cannot_sign_in(app, client, cast):
    with app.app_context():
        user = service.get_user_by_email(cast.user_a)
        user.status = "suspended"
        from dinamis.core.transaction import commit

        commit()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": cast.user_a, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 401


def test_a_form_without_csrf_token_is_refused_and_changes_nothing(app, client, cast):
    login(client, cast.user_a)
    response = client.post(
        "/account", data={"first_name": "Hacked", "last_name": "X", "language": "en"}
    )
    assert response.status_code == 400
    assert "formulaire" in response.get_data(as_text=True) or "form" in response.get_data(
        as_text=True
    )
    assert _user(app, cast.user_a).first_name != "Hacked"


def test_language_switch_sticks_to_the_user(app, client, cast):
    login(client, cast.user_a)
    token = csrf_token(client, "/account")
    client.post("/language", data={"language": "en", "next": "/account", "csrf_token": token})
    assert 'lang="en"' in client.get("/account").get_data(as_text=True)
    assert _user(app, cast.user_a).language == "en"


def test_english_browser_gets_english(client):
    page = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert 'lang="en"' in page and "Sign in" in page


def test_token_use_is_recorded_at_most_once_a_minute(app, cast):
    import datetime as dt

    from dinamis.accounts import service as accounts_service
    from dinamis.core.transaction import commit as commit_now

    with app.app_context():
        user = accounts_service.get_user_by_email(cast.user_a)
        token, clear = accounts_service.create_api_token(user, "t")
        assert accounts_service.user_for_api_token(clear) is not None
        first = token.last_used_at
        assert first is not None
        accounts_service.user_for_api_token(clear)
        assert token.last_used_at == first  # no write, no row lock, within the minute
        token.last_used_at = first - dt.timedelta(minutes=2)
        accounts_service.user_for_api_token(clear)
        assert token.last_used_at > first
        commit_now()


def test_mail_left_to_the_worker_when_configured(app, client, cast, monkeypatch):
    from dataclasses import replace

    from sqlalchemy import select

    from dinamis.core.mail import OutboxMessage, queue_mail
    from dinamis.core.transaction import commit as commit_now
    from dinamis.extensions import db

    settings = app.config["DINAMIS_SETTINGS"]
    monkeypatch.setitem(
        app.config,
        "DINAMIS_SETTINGS",
        replace(settings, mail=replace(settings.mail, deliver_in_request=False)),
    )
    with app.test_request_context():
        message = queue_mail("someone@labo-a.test", "password_changed", user=None)
        commit_now()
        stored = db.session.scalar(select(OutboxMessage).where(OutboxMessage.id == message.id))
        assert stored.sent_at is None  # waits for `dinamis mail send`


def test_a_bearer_token_is_resolved_in_one_query(app, cast):
    """The token, its user and the user's entity come back from one SELECT (the API's hot path)."""
    from sqlalchemy import event

    with app.app_context():
        user = service.get_user_by_email(cast.user_a)
        _, clear = service.create_api_token(user, "t")
        db.session.flush()
        entity_id = user.entity_id
        db.session.expunge_all()
        statements: list[str] = []

        def record(conn, cursor, statement, *args):
            statements.append(statement)

        engine = db.session.get_bind()
        event.listen(engine, "before_cursor_execute", record)
        try:
            found = service.user_for_api_token(clear)
            assert found is not None and found.entity is not None
            assert found.entity.id == entity_id
        finally:
            event.remove(engine, "before_cursor_execute", record)
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1, statements
        assert service.user_for_api_token(clear + "x") is None
