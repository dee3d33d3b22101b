"""Membership approval and renewal on and around 29 February."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from dinamis.accounts import service as accounts
from dinamis.extensions import db
from dinamis.membership import entities, service
from dinamis.membership.models import Entity, MembershipRequest, Profile, RequestStatus

D = dt.date


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def _awaiting(n: int) -> MembershipRequest:
    request = MembershipRequest(
        referent_email=f"ref{n}@lab-leap{n}.test",
        referent_first_name="Léo",
        referent_last_name="Leap",
        entity_name=f"Lab Leap {n}",
        country="FR",
        legal_rep_name="Dir",
        legal_rep_email=f"dir@lab-leap{n}.test",
        language="fr",
        status=RequestStatus.AWAITING_REVIEW,
    )
    db.session.add(request)
    db.session.flush()
    return request


@pytest.mark.parametrize(
    ("approved_on", "first_end", "renewed_end"),
    [
        (D(2028, 2, 29), D(2031, 2, 28), D(2034, 2, 28)),
        (D(2025, 3, 1), D(2028, 2, 29), D(2031, 2, 28)),
        (D(2027, 3, 1), D(2030, 2, 28), D(2033, 2, 28)),
    ],
)
def test_approve_then_renew_around_29_february(ctx, cast, approved_on, first_end, renewed_end):
    staff = accounts.get_user_by_email(cast.staff)
    profile = db.session.scalars(select(Profile)).first()
    entity = service.approve(staff, _awaiting(approved_on.year), profile.id, today=approved_on)
    assert (entity.membership_start, entity.membership_end) == (approved_on, first_end)
    entities.renew(staff, entity, today=first_end - dt.timedelta(days=30))
    assert entity.membership_end == renewed_end


def test_renewing_an_expired_membership_starts_today(ctx, cast):
    staff = accounts.get_user_by_email(cast.staff)
    entity = db.session.get(Entity, cast.entity_a)
    entity.membership_end = D(2027, 1, 10)
    entities.renew(staff, entity, today=D(2028, 2, 29))
    assert entity.membership_end == D(2031, 2, 28)
