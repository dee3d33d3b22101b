"""The alerts' task run by a real worker process, on a committed scratch database."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from dinamis.alerts.models import AlertMatch, AlertNotice, AlertSceneBatch, Frequency
from dinamis.core.mail import OutboxMessage
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.jobs import queue
from tests.alerts.conftest import add_scenes, item, save_for
from tests.factories import make_collection, make_user
from tests.jobs.test_worker import (  # noqa: F401 (fixtures)
    _jobs,
    _worker,
    scratch,
    scratch_engine,
    scratch_url,
)


def test_a_worker_matches_the_ingested_scenes_and_writes_the_message(app, scratch):  # noqa: F811
    with app.app_context():
        make_collection("worker-col", access="members")
        member = make_user("alerts.worker@labo-w.test", language="en").email
        save_for(member, name="Worker zone", frequency=Frequency.AT_ONCE)
        commit()
        add_scenes(item("W1", "worker-col"), item("W2", "worker-col"))
        commit()  # the ingest's own commit; matching happens later, in the task
        assert db.session.scalar(select(func.count()).select_from(AlertMatch)) == 0
        queue.defer("match_alerts", timestamp=int(time.time()))
        commit()

    ran = _worker(scratch)
    assert ran.returncode == 0, ran.stderr[-3000:]

    with app.app_context():
        assert [status for _id, status in _jobs("match_alerts")] == ["succeeded"]
        assert db.session.scalar(select(func.count()).select_from(AlertSceneBatch)) == 0
        assert set(db.session.scalars(select(AlertMatch.scene_id))) == {"W1", "W2"}
        notice = db.session.scalars(select(AlertNotice)).one()
        message = db.session.get(OutboxMessage, notice.outbox_message_id)
        assert message is not None and message.to_address == member
        assert message.subject == 'Dinamis: 2 new scenes for "Worker zone"'
