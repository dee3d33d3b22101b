"""An order's steps told to its requester after the commit: the status e-mail and the
webhook events written by the outbox worker from each step as it was taken, once."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from dinamis.core.mail import MailStatus, OutboxMessage, deliver_due
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.orders import service
from dinamis.orders.models import OrderEvent
from dinamis.quota import service as quota
from tests.factories import make_entity, make_user
from tests.orders.helpers import TODAY, tasking


@pytest.fixture
def world(app):
    with app.app_context(), force_locale("en"):
        entity = make_entity("Lab T", profile_code="research-fr")
        user = make_user("user@lab-t.test", entity=entity, language="en")
        french = make_user("utilisateur@lab-t.test", entity=entity, language="fr")
        staff = make_user("staff@dinamis.test", role="staff")
        quota.grant(entity, "tasking", "2027", Decimal("5000"))
        yield {"user": user, "french": french, "staff": staff}


def _mails(to: str) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.to_address == to)
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))


def test_each_step_is_mailed_as_it_was_taken_even_when_told_later(world):
    """Told after a later step, the first step's mail still names its own status."""
    user, staff = world["user"], world["staff"]
    order = service.submit_tasking(user, tasking(), today=TODAY)
    service.review(staff, order, accept=True, comment="Feasible.")
    assert _mails(user.email) == []
    assert service.tell_steps() == 2
    submitted, accepted = _mails(user.email)
    assert (submitted.template, accepted.template) == ("order_status", "order_status")
    assert submitted.subject == f"Dinamis: order {order.number} is now under review"
    assert accepted.subject == f"Dinamis: order {order.number} is now accepted"
    assert "Feasible." in accepted.body_text and "Feasible." not in submitted.body_text


def test_each_requester_is_mailed_in_their_language(world):
    order = service.submit_tasking(world["french"], tasking(), today=TODAY)
    service.tell_steps()
    (mail,) = _mails(world["french"].email)
    assert (
        mail.subject
        == f"Dinamis : la commande {order.number} est maintenant à l'état en cours d'examen"
    )


def test_a_step_is_told_once(world):
    service.submit_tasking(world["user"], tasking(), today=TODAY)
    assert service.tell_steps() == 1
    assert service.tell_steps() == 0
    assert len(_mails(world["user"].email)) == 1
    assert db.session.scalar(select(OrderEvent.told_at)) is not None


def test_the_outbox_worker_tells_and_sends(app, world, monkeypatch):
    """Requests that leave mail to the worker leave their steps to it too."""
    settings = app.config["DINAMIS_SETTINGS"]
    monkeypatch.setitem(
        app.config,
        "DINAMIS_SETTINGS",
        replace(settings, mail=replace(settings.mail, deliver_in_request=False)),
    )
    with app.test_request_context():
        service.submit_tasking(world["user"], tasking(), today=TODAY)
        commit()
        assert _mails(world["user"].email) == []
        assert deliver_due() == 1
        (mail,) = _mails(world["user"].email)
        assert mail.status == MailStatus.SENT


def test_a_request_that_sends_its_own_mail_tells_its_steps_after_its_commit(app, world):
    with app.test_request_context():
        service.submit_tasking(world["user"], tasking(), today=TODAY)
        commit()
        (mail,) = _mails(world["user"].email)
        assert mail.status == MailStatus.SENT
        assert service.tell_steps() == 0
