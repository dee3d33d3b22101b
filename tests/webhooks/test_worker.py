"""A real worker process posts a committed event, and never one whose transaction rolled
back; a running worker tells a request's new step within seconds of its commit."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from decimal import Decimal

from sqlalchemy import select, text

from dinamis.core.transaction import commit, rollback
from dinamis.extensions import db
from dinamis.webhooks import service
from dinamis.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.factories import make_entity, make_user
from tests.jobs.test_worker import _env, scratch, scratch_engine, scratch_url  # noqa: F401
from tests.webhooks.test_delivery import verify


def _burst(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dinamis.cli", "worker", "--burst", "--no-schedule"],
        env=_env(url, DINAMIS_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="true"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_worker_posts_the_committed_event_only(app, scratch, loopback, receiver):  # noqa: F811
    with app.app_context():
        owner = make_user("worker.hook@labo.test")
        webhook, secret = service.create(owner, url=receiver.url)
        commit()
        service.send_test(owner, webhook)
        rollback()  # this one is never sent: its row and its job went with the transaction
        service.send_test(owner, webhook)
        commit()
        run = _burst(scratch)
        assert run.returncode == 0, run.stderr[-3000:]
        [got] = receiver.received
        assert verify(secret, got.headers["Dinamis-Signature"], got.body)
        assert json.loads(got.body)["type"] == "webhook.test"
        db.session.expire_all()
        [delivery] = db.session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
        )
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
        # Run again: nothing is posted twice.
        assert _burst(scratch).returncode == 0 and len(receiver.received) == 1


def test_a_step_told_by_the_worker_writes_its_event_and_the_events_job(
    app,
    scratch,  # noqa: F811
    loopback,
    receiver,
):
    """In a worker, the step's telling (a job) writes the webhook event and queues its
    `deliver_webhook` job on its own connection, which the same worker then runs: a job
    deferred from inside a job (the worker's own connector refused the connection)."""
    from dinamis.jobs import queue
    from dinamis.orders import service as orders
    from dinamis.orders.models import OrderEvent
    from dinamis.quota import service as quota
    from tests.orders.helpers import TODAY, tasking

    settings = app.config["DINAMIS_SETTINGS"]  # loopback's; it puts the original back
    app.config["DINAMIS_SETTINGS"] = replace(
        settings, mail=replace(settings.mail, deliver_in_request=False)
    )
    with app.app_context():
        entity = make_entity("Lab Told", profile_code="research-fr")
        user = make_user("told.user@labo.test", entity=entity, language="en")
        quota.grant(entity, "tasking", "2027", Decimal("5000"))
        _webhook, secret = service.create(user, url=receiver.url)
        order = orders.submit_tasking(user, tasking(), today=TODAY)
        queue.defer("send_mail", timestamp=0)  # the minute's tick
        commit()
        run = _burst(scratch)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "not told" not in run.stderr, run.stderr[-3000:]
        [got] = receiver.received
        assert verify(secret, got.headers["Dinamis-Signature"], got.body)
        event = json.loads(got.body)
        assert (event["type"], event["data"]["order"]["id"]) == ("order.received", order.id)
        db.session.expire_all()
        assert db.session.scalar(select(OrderEvent.told_at)) is not None
        commit()


def _arrived(receiver, count: int, since: float, log) -> float:
    """Seconds from `since` to the arrival of the `count`-th event (at most 90 s)."""
    deadline = since + 90
    while len(receiver.received) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(receiver.received) >= count, log.read_text()[-5000:]
    return receiver.received[count - 1].at - since


def test_a_running_worker_tells_each_step_within_seconds_of_its_commit(
    app,
    scratch,  # noqa: F811
    loopback,
    receiver,
    tmp_path,
):
    """Production's way (requests leave their mail to the worker): a running `dinamis
    worker` tells an order's and a surface model's steps, e-mail and webhook events,
    seconds after their commit, not at the minute's `send_mail` tick: three rounds, each
    under 10 s (the tick alone would make one of them wait most of a minute)."""
    from dinamis.accounts.models import User
    from dinamis.core.mail import MailStatus, OutboxMessage
    from dinamis.dsm import service as dsm
    from dinamis.orders import service as orders
    from dinamis.quota import service as quota
    from tests.dsm.helpers import make_world
    from tests.orders.helpers import TODAY, tasking

    settings = app.config["DINAMIS_SETTINGS"]  # loopback's; it puts the original back
    app.config["DINAMIS_SETTINGS"] = replace(
        settings, mail=replace(settings.mail, deliver_in_request=False)
    )
    with app.app_context():
        entity = make_entity("Lab Prompt", profile_code="research-fr")
        user = make_user("prompt.user@labo.test", entity=entity, language="en")
        staff = make_user("prompt.staff@dinamis.test", role="staff")
        quota.grant(entity, "tasking", "2027", Decimal("5000"))
        world = make_world([entity.id])
        service.create(user, url=receiver.url)
        commit()
        user_id, staff_id = user.id, staff.id
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "dinamis.cli", "worker"],
        env={
            **_env(
                scratch,
                DINAMIS_MAIL_DELIVER_IN_REQUEST="false",
                DINAMIS_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="true",
            ),
            "DINAMIS_LOG_JSON": "true",  # the text log has no tracebacks
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with app.app_context():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not db.session.scalar(
                text("SELECT count(*) FROM procrastinate_workers")
            ):
                commit()
                time.sleep(0.2)
            commit()
            user, staff = db.session.get_one(User, user_id), db.session.get_one(User, staff_id)
            order = orders.submit_tasking(user, tasking(), today=TODAY)
            commit()
            submitted = _arrived(receiver, 1, time.monotonic(), log)
            orders.review(staff, order, accept=True, comment="Feasible.")
            commit()
            accepted = _arrived(receiver, 2, time.monotonic(), log)
            ask = dsm.DsmAsk(world.pair[0], None, None, "Dunes", "Heights of the dunes.")
            request = dsm.submit(user, ask)
            dsm.cancel(user, request, "wrong area")  # its computation never starts
            commit()
            surface = _arrived(receiver, 4, time.monotonic(), log)
            kinds = [
                (e["type"], e["data"]["order"]["type"])
                for e in (json.loads(r.body) for r in receiver.received)
            ]
            assert kinds == [
                ("order.received", "tasking"),
                ("order.accepted", "tasking"),
                ("order.accepted", "surface_model"),
                ("order.cancelled", "surface_model"),
            ]
            assert max(submitted, accepted, surface) < 10, (submitted, accepted, surface)
            print(f"told and posted after {submitted:.2f}, {accepted:.2f}, {surface:.2f} s")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the e-mails go in the same job, after
                db.session.expire_all()
                mails = db.session.scalars(
                    select(OutboxMessage).where(OutboxMessage.to_address == user.email)
                ).all()
                if len(mails) == 3 and all(m.status == MailStatus.SENT for m in mails):
                    break
                commit()
                time.sleep(0.1)
            assert sorted(m.subject.split(" is now ")[-1] for m in mails) == [
                "accepted",
                "cancelled",
                "under review",
            ]
            assert all(m.sent_at - m.created_at < dt.timedelta(seconds=10) for m in mails)
            commit()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
