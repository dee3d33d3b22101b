"""A surface model's steps told to its requester after the commit, as an order's are: the
status e-mail and the webhook events written from each step as it was taken, once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from dinamis.accounts import service as accounts
from dinamis.core.mail import MailStatus, OutboxMessage, deliver_due
from dinamis.core.transaction import commit
from dinamis.dsm import service
from dinamis.dsm.models import DSM_STATUS_WORDS, DsmEvent, DsmStatus
from dinamis.extensions import db
from tests.dsm.helpers import aoi, make_world


@pytest.fixture
def world(app, cast):
    with app.app_context():
        made = make_world([cast.entity_a, cast.entity_b])
        commit()
        return made


def _ask(scene_id, area=None):
    return service.DsmAsk(
        scene_id=scene_id,
        aoi=area,
        resolution_m=None,
        project_title="Dunes",
        project_description="Heights of the coastal dunes.",
        theme="coast",
    )


def _statuses(to: str) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(
        OutboxMessage.to_address == to, OutboxMessage.template == "dsm_status"
    )
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))


def _untold() -> list[str]:
    query = select(DsmEvent.to_status).where(DsmEvent.told_at.is_(None)).order_by(DsmEvent.id)
    return list(db.session.scalars(query))


def test_each_step_is_mailed_as_it_was_taken_even_when_told_later(app, cast, world):
    """The quote accepted (queued), then the worker starting it (running), told together:
    the queued step's mail names its own state, and the start mails no one."""
    with app.app_context():
        user = accounts.get_user_by_email(cast.user_a)
        referent = accounts.get_user_by_email(cast.referent_a)
        service.submit(user, _ask(world.pair[0]))
        second = service.submit(user, _ask(world.pair[0], aoi(2.05, 45.0, 2.2, 45.1)))
        assert second.status == DsmStatus.AWAITING_QUOTE
        service.decide_quote(referent, second, True)
        assert service.start(second.id, None) is not None
        assert second.status == DsmStatus.RUNNING
        assert _statuses(user.email) == []  # nothing written with the steps
        assert _untold() == ["queued", "awaiting_quote", "queued", "running"]
        assert service.tell_steps() == 4
        (accepted,) = _statuses(user.email)  # the submissions and the start mail no one
        with force_locale(user.language):
            queued = str(DSM_STATUS_WORDS[DsmStatus.QUEUED])
            running = str(DSM_STATUS_WORDS[DsmStatus.RUNNING])
            note = service.event_note(second.events[1])
        assert second.number in accepted.subject and accepted.subject.endswith(queued)
        assert running not in accepted.body_text
        assert note and note in accepted.body_text  # "Quote accepted.", in their language
        assert _untold() == []


def test_a_step_is_told_once(app, cast, world):
    with app.app_context():
        user = accounts.get_user_by_email(cast.user_a)
        request = service.submit(user, _ask(world.pair[0]))
        service.cancel(user, request, "wrong area")
        assert service.tell_steps() == 2
        assert service.tell_steps() == 0
        (cancelled,) = _statuses(user.email)
        assert "wrong area" in cancelled.body_text


def test_the_outbox_worker_tells_and_sends(app, cast, world, monkeypatch):
    """Requests that leave mail to the worker leave their steps to it too."""
    settings = app.config["DINAMIS_SETTINGS"]
    monkeypatch.setitem(
        app.config,
        "DINAMIS_SETTINGS",
        replace(settings, mail=replace(settings.mail, deliver_in_request=False)),
    )
    with app.test_request_context():
        user = accounts.get_user_by_email(cast.user_a)
        request = service.submit(user, _ask(world.pair[0]))
        service.cancel(user, request, None)
        commit()
        assert _statuses(user.email) == [] and _untold() == ["queued", "cancelled"]
        assert deliver_due() == 1
        (mail,) = _statuses(user.email)
        assert mail.status == MailStatus.SENT and _untold() == []


def test_a_request_that_sends_its_own_mail_tells_its_steps_after_its_commit(app, cast, world):
    with app.test_request_context():
        user = accounts.get_user_by_email(cast.user_a)
        request = service.submit(user, _ask(world.pair[0]))
        service.cancel(user, request, None)
        assert _untold() == ["queued", "cancelled"]
        commit()
        (mail,) = _statuses(user.email)
        assert mail.status == MailStatus.SENT
        assert _untold() == [] and service.tell_steps() == 0
