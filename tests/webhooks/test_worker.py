"""A real worker process posts a committed event, and never one whose transaction rolled back."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import select

from dinamis.core.transaction import commit, rollback
from dinamis.extensions import db
from dinamis.webhooks import service
from dinamis.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.factories import make_user
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
    from dataclasses import replace
    from decimal import Decimal

    from dinamis.jobs import queue
    from dinamis.orders import service as orders
    from dinamis.orders.models import OrderEvent
    from dinamis.quota import service as quota
    from tests.factories import make_entity
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
