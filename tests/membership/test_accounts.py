"""Account requests, the Referent's decisions and member management, the entity API."""

from __future__ import annotations

import re

from sqlalchemy import select

from dinamis.accounts import service as accounts
from dinamis.accounts.models import User
from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import AccountRequest, AuditEvent, Entity
from dinamis.orders.permissions import can_order
from tests.conftest import login
from tests.helpers import csrf_token, outbox


def _ask(client, entity_id, email="new.person@labo-a.test", **changes):
    data = {
        "entity": str(entity_id),
        "email": email,
        "first_name": "Nina",
        "last_name": "New",
        "job_title": "Engineer",
        "permanent": "y",
        "csrf_token": csrf_token(client, "/join/account"),
    }
    data.update(changes)
    return client.post("/join/account", data=data)


def _confirm(app, client, email="new.person@labo-a.test"):
    body = outbox(app, to=email)[-1].body_text
    path = re.search(r"http://\S+(/join/account/confirm/\S+)", body).group(1)
    return client.get(path), path


def _request(app):
    with app.app_context():
        found = db.session.scalars(select(AccountRequest)).one()
        db.session.expunge_all()
        return found


def _with_domain(app, cast):
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        entity.email_domains = ["labo-a.test"]
        commit()


def test_request_confirm_approve_sign_in(app, client, cast):
    _with_domain(app, cast)
    found = client.get("/join/account?q=labo").get_data(as_text=True)
    assert "Laboratoire A" in found and "Agence B" not in found
    assert _ask(client, cast.entity_a).status_code == 200
    response, path = _confirm(app, client)
    assert response.status_code == 302
    assert client.get(path).status_code == 400  # the link works once
    request = _request(app)
    assert request.status == "pending" and request.domain_verified
    assert "Nina New" in outbox(app, to=cast.referent_a)[-1].body_text

    login(client, cast.referent_a)
    page = client.get("/entity").get_data(as_text=True)
    assert ("Nina New" in page and "domain verified" in page) or "domaine" in page
    token = csrf_token(client, "/entity")
    assert (
        client.post(
            f"/entity/requests/{request.id}/approve", data={"csrf_token": token}
        ).status_code
        == 302
    )
    link = re.search(
        r"http://\S+(/reset-password/\S+)", outbox(app, to="new.person@labo-a.test")[-1].body_text
    )
    person = app.test_client()
    token = csrf_token(person, link.group(1))
    person.post(
        link.group(1),
        data={"password": "nina-password-1", "confirm": "nina-password-1", "csrf_token": token},
    )
    login(person, "new.person@labo-a.test", "nina-password-1")
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.approved"))


def test_refusals(app, client, cast):
    assert _ask(client, cast.entity_a, email="x@gmail.com").status_code == 422
    assert _ask(client, 999999).status_code == 404
    with app.app_context():
        db.session.get(Entity, cast.entity_b).status = "suspended"
        commit()
    assert _ask(client, cast.entity_b, email="y@agence-b.test").status_code == 409
    assert _ask(client, cast.entity_a, first_name="x" * 101).status_code == 422
    assert _ask(client, cast.entity_a).status_code == 200


def test_referent_of_b_cannot_act_on_a_and_refusal_needs_a_reason(app, client, cast):
    _ask(client, cast.entity_a)
    _confirm(app, client)
    request = _request(app)
    login(client, cast.referent_b)
    token = csrf_token(client, "/entity")
    assert (
        client.post(
            f"/entity/requests/{request.id}/approve", data={"csrf_token": token}
        ).status_code
        == 403
    )
    assert "Nina" not in client.get("/entity").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": token})
    login(client, cast.referent_a)
    token = csrf_token(client, "/entity")
    assert (
        client.post(f"/entity/requests/{request.id}/refuse", data={"csrf_token": token}).status_code
        == 422
    )
    assert (
        client.post(
            f"/entity/requests/{request.id}/refuse",
            data={"csrf_token": token, "reason": "Not staff"},
        ).status_code
        == 302
    )
    assert _request(app).status == "refused"
    assert "Not staff" in outbox(app, to="new.person@labo-a.test")[-1].body_text
    again = client.post(f"/entity/requests/{request.id}/approve", data={"csrf_token": token})
    assert again.status_code == 409


def test_suspend_remove_and_deputies(app, client, cast):
    with app.app_context():
        user_a = accounts.get_user_by_email(cast.user_a).id
        user_b = accounts.get_user_by_email(cast.user_b).id
        referent = accounts.get_user_by_email(cast.referent_a).id
    member = app.test_client()
    login(member, cast.user_a)
    login(client, cast.referent_a)
    token = csrf_token(client, "/entity")
    assert (
        client.post(f"/entity/members/{user_a}/suspended", data={"csrf_token": token}).status_code
        == 422
    )
    assert (
        client.post(
            f"/entity/members/{user_a}/suspended",
            data={"csrf_token": token, "reason": "left the lab"},
        ).status_code
        == 302
    )
    assert member.get("/account").status_code == 302  # signed out at once
    assert (
        client.post(
            f"/entity/members/{user_b}/removed", data={"csrf_token": token, "reason": "x"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/entity/members/{referent}/removed", data={"csrf_token": token, "reason": "x"}
        ).status_code
        == 403
    )
    client.post(f"/entity/members/{user_a}/active", data={"csrf_token": token})
    assert (
        client.post(f"/entity/members/{user_a}/deputy", data={"csrf_token": token}).status_code
        == 302
    )
    with app.app_context():
        assert db.session.get(User, user_a).is_deputy
    # a deputy manages requests but cannot name deputies
    deputy = app.test_client()
    login(deputy, cast.user_a)
    assert deputy.get("/entity").status_code == 200
    token_d = csrf_token(deputy, "/entity")
    assert (
        deputy.post(f"/entity/members/{referent}/member", data={"csrf_token": token_d}).status_code
        == 403
    )

    # Staff read it all in the audit trail: who, what and on which entity, in words.
    staff = app.test_client()
    login(staff, cast.staff)
    trail = staff.get("/admin/audit").get_data(as_text=True)  # in French, the staff's language
    assert "membre suspendu" in trail and "nommé référent suppléant" in trail
    assert cast.referent_a in trail and "left the lab" in trail and "Laboratoire A" in trail
    assert "member.suspended" not in trail
    # and the member entities with their profile's name, not its code
    listed = staff.get("/admin/entities").get_data(as_text=True)
    assert "Recherche française" in listed and "research-fr" not in listed


def test_expired_or_suspended_entities_cannot_order_but_sign_in(app, client, cast):
    import datetime as dt

    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        entity.membership_end = scheme_today() - dt.timedelta(days=1)
        commit()
    login(client, cast.user_a)
    assert client.get("/account").status_code == 200
    assert client.get("/orders/tasking/new").status_code == 403
    with app.app_context():
        assert not can_order(accounts.get_user_by_email(cast.user_a))


def test_entity_api_for_referent_and_staff_only(app, cast):
    tokens = {}
    with app.app_context():
        for email in (cast.referent_a, cast.referent_b, cast.user_a, cast.staff):
            _t, tokens[email] = accounts.create_api_token(accounts.get_user_by_email(email), "api")
        commit()
    client = app.test_client()

    def get(email, path):
        return client.get(path, headers={"Authorization": f"Bearer {tokens[email]}"})

    ok = get(cast.referent_a, f"/api/v1/entities/{cast.entity_a}/members")
    assert ok.status_code == 200
    assert {m["email"] for m in ok.json["members"]} == {cast.referent_a, cast.user_a}
    assert get(cast.staff, f"/api/v1/entities/{cast.entity_a}").json["name"] == "Laboratoire A"
    assert get(cast.referent_b, f"/api/v1/entities/{cast.entity_a}").status_code == 403
    assert get(cast.user_a, f"/api/v1/entities/{cast.entity_a}/members").status_code == 403
    assert get(cast.staff, "/api/v1/entities/999999").status_code == 404
    spec = client.get("/api/v1/openapi.json").json
    assert "/entities/{entity_id}/members" in spec["paths"]
