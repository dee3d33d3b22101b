"""Reminders before expiry, renewal, the Referent's hand-over."""

from __future__ import annotations

import datetime as dt

import pytest
from flask_babel import force_locale

from dinamis.accounts import service as accounts
from dinamis.core.dates import today as scheme_today
from dinamis.core.errors import Conflict, Forbidden
from dinamis.core.mail import OutboxMessage
from dinamis.extensions import db
from dinamis.membership import entities
from dinamis.membership.models import Entity
from tests.conftest import login
from tests.helpers import csrf_token


@pytest.fixture
def ctx(app):
    with app.app_context(), force_locale("en"):
        yield


def _reminders(email):
    return [
        m
        for m in db.session.query(OutboxMessage).filter_by(
            to_address=email, template="membership_reminder"
        )
    ]


def test_reminders_at_60_and_15_days_once_each_then_expiry(ctx, cast):
    entity = db.session.get(Entity, cast.entity_a)
    today = dt.date(2027, 1, 1)
    entity.membership_end = today + dt.timedelta(days=70)
    assert entities.remind(today) == []
    assert [d for _e, d in entities.remind(today + dt.timedelta(days=10))] == [60]
    assert entities.remind(today + dt.timedelta(days=11)) == []
    assert [d for _e, d in entities.remind(today + dt.timedelta(days=56))] == [15]
    assert entities.remind(today + dt.timedelta(days=57)) == []
    assert len(_reminders(cast.referent_a)) == 2
    entities.remind(today + dt.timedelta(days=71))
    assert entity.status == "expired"


def test_renewal_requested_by_the_referent_and_granted_by_staff(ctx, cast):
    entity = db.session.get(Entity, cast.entity_a)
    entity.membership_end = scheme_today() + dt.timedelta(days=10)
    referent = accounts.get_user_by_email(cast.referent_a)
    user = accounts.get_user_by_email(cast.user_a)
    staff = accounts.get_user_by_email(cast.staff)
    with pytest.raises(Forbidden):
        entities.request_renewal(user, entity)
    entities.request_renewal(referent, entity)
    with pytest.raises(Conflict):
        entities.request_renewal(referent, entity)
    with pytest.raises(Forbidden):
        entities.renew(referent, entity)
    end = entity.membership_end
    entities.renew(staff, entity)
    assert entity.membership_end == end.replace(year=end.year + 3)
    assert entity.renewal_requested_at is None


def test_handover_needs_the_successors_acceptance(app, client, cast):
    with app.app_context():
        user_a = accounts.get_user_by_email(cast.user_a).id
        user_b = accounts.get_user_by_email(cast.user_b).id
    login(client, cast.referent_a)
    token = csrf_token(client, "/entity")
    assert (
        client.post("/entity/handover", data={"csrf_token": token, "user_id": user_b}).status_code
        == 404
    )
    assert (
        client.post("/entity/handover", data={"csrf_token": token, "user_id": user_a}).status_code
        == 302
    )
    # someone else cannot accept it
    other = app.test_client()
    login(other, cast.user_b)
    assert (
        other.post(
            "/entity/handover/accept", data={"csrf_token": csrf_token(other, "/")}
        ).status_code
        == 403
    )
    successor = app.test_client()
    login(successor, cast.user_a)
    page = successor.get("/").get_data(as_text=True)
    assert "handover/accept" in page
    accepted = successor.post(
        "/entity/handover/accept", data={"csrf_token": csrf_token(successor, "/")}
    )
    assert accepted.status_code == 302
    with app.app_context():
        assert accounts.get_user_by_email(cast.user_a).is_referent
        assert accounts.get_user_by_email(cast.referent_a).is_deputy


def test_renewal_message_writes_the_new_end_in_the_readers_language(app, client, cast):
    from babel.dates import format_date

    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        entity.membership_end = scheme_today() + dt.timedelta(days=10)
        end = entity.membership_end
        db.session.commit()
    login(client, cast.staff)
    token = csrf_token(client, "/admin/entities")
    response = client.post(
        f"/admin/entities/{cast.entity_a}/renew",
        data={"csrf_token": token},
        headers={"Accept-Language": "fr"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    renewed = end.replace(year=end.year + 3)
    assert format_date(renewed, "medium", locale="fr") in page
    assert renewed.isoformat() not in page
