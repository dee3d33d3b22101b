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
