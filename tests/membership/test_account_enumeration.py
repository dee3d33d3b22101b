"""/join/account says the same for a known address as for a new one; the owner is told."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from dinamis.extensions import db
from dinamis.membership.models import AccountRequest
from tests.helpers import outbox
from tests.membership.test_accounts import _ask


def _requests(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AccountRequest))


def _page(response) -> str:
    """The page, less its CSRF tokens (signed with the time, so never twice the same)."""
    return re.sub(
        r'name="csrf_token" type="hidden" value="[^"]+"', "", response.get_data(as_text=True)
    )


def test_an_existing_account_gets_the_answer_of_a_new_address(app, client, cast):
    new = _ask(client, cast.entity_a, email="someone.new@labo-a.test")
    known = _ask(client, cast.entity_a, email=cast.user_b)
    assert new.status_code == known.status_code == 200
    assert _page(known) == _page(new).replace("someone.new@labo-a.test", cast.user_b)
    assert _requests(app) == 1  # no request for the known address
    told = outbox(app, to=cast.user_b)[-1]
    assert "already" in told.subject and "/login" in told.body_text  # in English: user_b's language
    assert "/forgot-password" in told.body_text


def test_a_second_request_gets_the_same_answer_and_a_reminder(app, client, cast):
    first = _ask(client, cast.entity_a)
    again = _ask(client, cast.entity_a)
    assert first.status_code == again.status_code == 200
    assert _page(first) == _page(again)
    assert _requests(app) == 1
    confirmations = outbox(app, to="new.person@labo-a.test")
    assert len(confirmations) == 2  # the confirmation link again, to the address only
    assert "/join/account/confirm/" in confirmations[-1].body_text
