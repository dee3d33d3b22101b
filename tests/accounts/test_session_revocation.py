"""Sign-out, a password change or reset and a suspension end every session on the server."""

from __future__ import annotations

from tests.conftest import login
from tests.helpers import csrf_token

NEW = "a-brand-new-password-42"


def _copy(app, client):
    """A second browser holding a copy of `client`'s session cookie."""
    thief = app.test_client()
    cookie = client.get_cookie("dinamis_session")
    thief.set_cookie("dinamis_session", cookie.value)
    return thief


def test_a_cookie_copied_before_sign_out_stops_working(app, client, cast):
    login(client, cast.user_a)
    thief = _copy(app, client)
    other_device = app.test_client()
    login(other_device, cast.user_a)
    assert thief.get("/account").status_code == 200
    token = csrf_token(client, "/account")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert thief.get("/account").status_code == 302
    assert thief.get("/orders/").status_code == 302
    assert other_device.get("/account").status_code == 302
    # Signing in again works, and only the new session is valid.
    login(client, cast.user_a)
    assert client.get("/account").status_code == 200
    assert thief.get("/account").status_code == 302


def test_a_copied_cookie_stops_working_after_a_password_change(app, client, cast):
    login(client, cast.user_a)
    thief = _copy(app, client)
    token = csrf_token(client, "/account")
    client.post(
        "/account/password",
        data={
            "current_password": "correct-horse-battery",
            "password": NEW,
            "confirm": NEW,
            "csrf_token": token,
        },
    )
    assert client.get("/account").status_code == 200
    assert thief.get("/account").status_code == 302


def test_suspension_ends_the_members_sessions_even_after_reactivation(app, client, cast):
    from dinamis.accounts import service

    member = app.test_client()
    login(member, cast.user_a)
    thief = _copy(app, member)
    with app.app_context():
        user_id = service.get_user_by_email(cast.user_a).id
    login(client, cast.referent_a)
    token = csrf_token(client, "/entity")
    suspended = client.post(
        f"/entity/members/{user_id}/suspended", data={"csrf_token": token, "reason": "audit"}
    )
    assert suspended.status_code == 302
    assert (
        client.post(
            f"/entity/members/{user_id}/active", data={"csrf_token": token, "reason": ""}
        ).status_code
        == 302
    )
    assert member.get("/account").status_code == 302
    assert thief.get("/account").status_code == 302
