"""Surface models computed by real worker processes on a committed scratch database.

The engine is tests/dsm/fake_engine.py (DINAMIS_DSM_ENGINE), which behaves as
DSM_FAKE says: it writes a product, fails, or runs slowly with a child
process standing for CARS's own. What is tested is the product's side: the
job, progress, delivery into the catalogue, cancellation that kills the
engine, a worker killed mid-job, and the ledger balanced at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import sessionmaker

from dinamis import PROJECT_ROOT
from dinamis.accounts import service as accounts
from dinamis.catalogue.models import Scene
from dinamis.core.db import connect_args
from dinamis.core.mail import OutboxMessage
from dinamis.core.migrate import alembic_config
from dinamis.core.transaction import commit
from dinamis.dsm import service
from dinamis.dsm.models import DsmRequest, DsmStatus
from dinamis.extensions import db as database
from dinamis.membership.models import Entity
from dinamis.quota import service as quota
from tests.conftest import create_database, drop_database, login, unique_db_name
from tests.dsm.helpers import make_world
from tests.factories import make_entity, make_user
from tests.helpers import csrf_token

D = Decimal


@pytest.fixture(scope="module")
def scratch_url():
    name = unique_db_name("dsm")
    url = create_database(name)
    try:
        config = alembic_config(url)
        config.attributes["configure_logging"] = False
        command.upgrade(config, "heads")
        yield url
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def scratch_engine(scratch_url):
    engine = create_engine(scratch_url, connect_args=connect_args(scratch_url))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def world_ids():
    return {}


@pytest.fixture
def scratch(app, scratch_engine, scratch_url, world_ids):
    """The app's sessions on the scratch database; the world made once per module."""
    database.bind(sessionmaker(bind=scratch_engine, expire_on_commit=False), app)
    with app.app_context():
        if not world_ids:
            a = make_entity("Labo DSM A", profile_code="research-fr")
            b = make_entity("Agence DSM B", profile_code="public-fr")
            make_user("dsm.user.a@labo-a.test", entity=a)
            make_user("dsm.ref.a@labo-a.test", entity=a, entity_role="referent")
            make_user("dsm.user.b@agence-b.test", entity=b, language="en")
            make_user("dsm.staff@dinamis.test", role="staff")
            world_ids["world"] = make_world([a.id, b.id], allowance=D("5000"))
            world_ids["a"] = a.id
            commit()
    return scratch_url


def _env(url: str, app, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DINAMIS_", "DSM_FAKE"))}
    env.update(
        DATABASE_URL=url,
        DINAMIS_LOG_JSON="false",
        DINAMIS_LOG_LEVEL="INFO",
        DINAMIS_STORAGE_ROOT=str(app.config["DINAMIS_SETTINGS"].storage_root),
        DINAMIS_DSM_ENGINE="tests.dsm.fake_engine:compute",
        DINAMIS_DSM_WORKDIR=str(tmp_path / "work"),
        PYTHONPATH=str(PROJECT_ROOT),
    )
    env.update(extra)
    env.pop("HOST", None)
    env.pop("PORT", None)
    return env


def _burst(
    url: str, app, tmp_path: Path, timeout: int = 180, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dinamis.cli", "worker", "--burst", "--no-schedule"],
        env=_env(url, app, tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _worker(url: str, app, tmp_path: Path, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "dinamis.cli", "worker", "--no-schedule"],
        env=_env(url, app, tmp_path, **extra),
        stdout=(tmp_path / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _submit(app, email: str, scene_id: str, area=None) -> int:
    with app.app_context():
        user = accounts.get_user_by_email(email)
        request = service.submit(
            user,
            service.DsmAsk(scene_id, area, None, "Dunes", "Heights of the coastal dunes."),
        )
        commit()
        return request.id


def _read(app, request_id: int) -> DsmRequest:
    with app.app_context():
        found = database.session.get_one(DsmRequest, request_id)
        database.session.refresh(found)
        commit()
        return found


def _job_status(app, job_id: int) -> str:
    with app.app_context():
        status = database.session.scalar(
            text("SELECT status::text FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
        )
        commit()
        return str(status)


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"waited {seconds} s for {what}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _ledger_balanced(app, request_id: int, consumed: Decimal) -> None:
    with app.app_context():
        request = database.session.get_one(DsmRequest, request_id)
        entity = database.session.get_one(Entity, request.entity_id)
        held = quota.held_by(entity, "dsm", request.period, request.reference)
        assert held.free == 0 and held.cofunded == 0
        total = database.session.scalar(
            text(
                "SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e "
                "JOIN ledger_transactions t ON t.id = e.transaction_id "
                "JOIN ledger_accounts a ON a.id = e.account_id "
                "WHERE t.reference = :ref AND a.kind IN ('consumed', 'cofunded_consumed')"
            ),
            {"ref": request.reference},
        )
        assert D(total) == consumed
        assert quota.trial_balance() == 0
        commit()


def test_a_worker_computes_it_and_it_is_delivered_into_the_catalogue(
    app, client, scratch, world_ids, tmp_path
):
    world = world_ids["world"]
    request_id = _submit(app, "dsm.user.a@labo-a.test", world.pair[0])
    ran = _burst(scratch, app, tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    request = _read(app, request_id)
    assert request.status == DsmStatus.DELIVERED, (request.failure_detail, ran.stderr[-3000:])
    assert request.progress == 100 and request.attempts == 1
    assert request.item_id == f"DSM_{request.number}"
    assert "fake CARS" in (request.log or "")
    _ledger_balanced(app, request_id, request.charged_km2)
    with app.app_context():
        events = [e.to_status for e in database.session.get_one(DsmRequest, request_id).events]
        assert events == ["queued", "running", "delivered"]
        item = database.session.get_one(Scene, request.item_id)
        assert item.collection_id == "dsm"
        mails = database.session.scalars(
            select(OutboxMessage).where(OutboxMessage.to_address == "dsm.user.a@labo-a.test")
        ).all()
        assert any(request.number in m.subject and "livré" in m.subject for m in mails)
        commit()
    stac = client.get(f"/stac/collections/dsm/items/{request.item_id}").get_json()
    assert {
        li["href"].rsplit("/", 1)[1] for li in stac["links"] if li["rel"] == "derived_from"
    } == set(world.pair)
    props = stac["properties"]
    assert props["processing:software"] == {"cars": "1.3.0-fake"}
    assert props["proj:code"] == "EPSG:32631" and len(props["proj:bbox"]) == 4
    assert props["dinamis:vertical_reference"] == "EGM96"
    assert stac["assets"]["hillshade"]["roles"] == ["overview"]  # the quicklook, for all
    assert "dsm" not in stac["assets"]  # files for those who may download them
    with app.app_context():
        (band,) = database.session.get_one(Scene, request.item_id).assets["dsm"]["raster:bands"]
        assert band["nodata"] == -32768.0 and band["unit"] == "m"
        commit()
    # downloadable by the requester's entity, through the licensed downloads
    login(client, "dsm.ref.a@labo-a.test")
    path = f"/catalogue/scenes/{request.item_id}/files/dsm"
    assert client.get(path).status_code == 302  # to the licence first
    token = csrf_token(client, "/catalogue/licences/dsm")
    client.post("/catalogue/licences/dsm", data={"csrf_token": token})
    answer = client.get(path)
    assert answer.status_code == 200 and answer.data[:2] in (b"II", b"MM")
    page = client.get(f"/dsm/{request_id}").get_data(as_text=True)
    assert request.item_id in page and "/files/dsm" in page
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    # ...not by another entity (the default rule: the requester's entity only)
    login(client, "dsm.user.b@agence-b.test")
    token = csrf_token(client, "/catalogue/licences/dsm")
    client.post("/catalogue/licences/dsm", data={"csrf_token": token})
    refused = client.get(path)
    assert refused.status_code == 403
    assert "another organisation" in refused.get_data(as_text=True)
    # the other rule: every member the source collection lets download its scenes
    app.config["DINAMIS_SETTINGS"].dsm.__dict__["download_rule"] = "collection"
    try:
        assert client.get(path).status_code == 200
    finally:
        app.config["DINAMIS_SETTINGS"].dsm.__dict__["download_rule"] = "entity"


def test_an_engine_failure_is_told_in_the_users_language_and_released(
    app, client, scratch, world_ids, tmp_path
):
    world = world_ids["world"]
    request_id = _submit(app, "dsm.user.b@agence-b.test", world.triplet[0])
    ran = _burst(scratch, app, tmp_path, DSM_FAKE="fail")
    assert ran.returncode == 0, ran.stderr[-3000:]
    request = _read(app, request_id)
    assert request.status == DsmStatus.FAILED and request.failure_code == "engine", ran.stderr[
        -3000:
    ]
    assert "no tie points" in request.failure_detail
    _ledger_balanced(app, request_id, D("0"))
    with app.app_context():
        (mail,) = [
            m
            for m in database.session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.to_address == "dsm.user.b@agence-b.test",
                    OutboxMessage.subject.contains(request.number),
                    OutboxMessage.subject.contains("failed"),
                )
            )
        ]
        assert "could not compute a usable surface" in mail.body_text
        assert "tie points" not in mail.body_text  # the engine's words are for staff
        commit()
    login(client, "dsm.staff@dinamis.test")
    page = client.get(f"/dsm/{request_id}").get_data(as_text=True)
    assert "no tie points" in page and "fake CARS" in page
    queue = client.get("/dsm/?status=queue").get_data(as_text=True)
    assert request.number in queue


def test_a_transient_failure_is_retried_then_fails_when_no_attempt_is_left(
    app, scratch, world_ids, tmp_path
):
    world = world_ids["world"]
    request_id = _submit(app, "dsm.user.a@labo-a.test", world.triplet[0])
    ran = _burst(scratch, app, tmp_path, DSM_FAKE="transient", DINAMIS_DSM_MAX_ATTEMPTS="2")
    assert ran.returncode == 0, ran.stderr[-3000:]
    request = _read(app, request_id)
    assert request.status == DsmStatus.QUEUED and request.attempts == 1
    assert _job_status(app, request.job_id) == "todo"  # retried by Procrastinate, later
    with app.app_context():
        database.session.execute(
            text("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE id = :id"),
            {"id": request.job_id},
        )
        commit()
    ran = _burst(scratch, app, tmp_path, DSM_FAKE="transient", DINAMIS_DSM_MAX_ATTEMPTS="2")
    request = _read(app, request_id)
    assert request.status == DsmStatus.FAILED and request.failure_code == "transient"
    assert request.attempts == 2
    _ledger_balanced(app, request_id, D("0"))


def test_cancelling_while_running_stops_the_engine_and_releases(app, scratch, world_ids, tmp_path):
    world = world_ids["world"]
    request_id = _submit(app, "dsm.user.a@labo-a.test", world.pair[1])
    pidfile = tmp_path / "engine-child.pid"
    worker = _worker(
        scratch,
        app,
        tmp_path,
        DSM_FAKE="slow",
        DSM_FAKE_SECONDS="300",
        DSM_FAKE_PIDFILE=str(pidfile),
    )
    try:
        _wait(lambda: _read(app, request_id).progress >= 6 and pidfile.exists(), 90, "progress")
        child = int(pidfile.read_text())
        assert _alive(child)
        with app.app_context():
            request = database.session.get_one(DsmRequest, request_id)
            assert request.status == DsmStatus.RUNNING
            service.cancel(accounts.get_user_by_email("dsm.user.a@labo-a.test"), request)
            commit()
        _wait(lambda: not _alive(child), 30, "the engine's child process to be killed")
        request = _read(app, request_id)
        _wait(lambda: _job_status(app, request.job_id) in ("aborted", "succeeded"), 30, "job end")
        request = _read(app, request_id)
        assert request.status == DsmStatus.CANCELLED and request.item_id is None
        _ledger_balanced(app, request_id, D("0"))
        assert worker.poll() is None  # the worker goes on
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def test_a_worker_killed_mid_job_is_retried_then_delivered(app, scratch, world_ids, tmp_path):
    world = world_ids["world"]
    request_id = _submit(app, "dsm.user.a@labo-a.test", world.pair[0])
    pidfile = tmp_path / "engine-child.pid"
    worker = _worker(
        scratch,
        app,
        tmp_path,
        DSM_FAKE="slow",
        DSM_FAKE_SECONDS="300",
        DSM_FAKE_PIDFILE=str(pidfile),
    )
    try:
        _wait(lambda: _read(app, request_id).progress >= 6 and pidfile.exists(), 90, "progress")
        child = int(pidfile.read_text())
        os.kill(worker.pid, signal.SIGKILL)  # the worker process dies, without a word
        worker.wait()
        _wait(lambda: not _alive(child), 30, "the engine to die with its worker")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
    request = _read(app, request_id)
    assert request.status == DsmStatus.RUNNING
    assert _job_status(app, request.job_id) == "doing"

    def recovered() -> bool:
        with app.app_context():
            found = service.recover_stalled(stale_after_s=5)
            commit()
        return bool(found)

    _wait(recovered, 60, "the stalled job to be taken back")
    request = _read(app, request_id)
    assert request.status == DsmStatus.QUEUED
    assert _job_status(app, request.job_id) == "todo"
    ran = _burst(scratch, app, tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    request = _read(app, request_id)
    assert request.status == DsmStatus.DELIVERED and request.attempts == 2
    _ledger_balanced(app, request_id, request.charged_km2)
    with app.app_context():
        events = [e.to_status for e in database.session.get_one(DsmRequest, request_id).events]
        assert events == ["queued", "running", "queued", "running", "delivered"]
        commit()


def test_a_dead_worker_with_no_attempt_left_fails_and_releases(app, scratch, world_ids):
    world = world_ids["world"]
    request_id = _submit(app, "dsm.user.a@labo-a.test", world.triplet[2])
    with app.app_context():
        request = database.session.get_one(DsmRequest, request_id)
        # a worker fetched the job, started it for the last time, then disappeared
        database.session.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id"),
            {"id": request.job_id},
        )
        request.attempts = service.settings().max_attempts - 1
        assert service.start(request_id, request.job_id) is not None
        commit()
        found = service.recover_stalled(stale_after_s=5)
        commit()
        assert [(r.request_id, r.retried) for r in found] == [(request_id, False)]
    request = _read(app, request_id)
    assert request.status == DsmStatus.FAILED and request.failure_code == "worker_lost"
    assert _job_status(app, request.job_id) == "failed"
    _ledger_balanced(app, request_id, D("0"))
    with app.app_context():
        assert not database.session.scalars(
            select(DsmRequest).where(DsmRequest.status == DsmStatus.RUNNING)
        ).all()
        commit()


def test_the_nightly_task_expires_an_undecided_quote(app, scratch, world_ids, tmp_path):
    """`expire_orders`, run by a worker at a tick past the quote's last day: the request is
    cancelled, its km² released by an appended posting, the requester mailed."""
    import datetime as dt

    from dinamis.jobs.queue import defer
    from dinamis.quota.models import LedgerTransaction

    world = world_ids["world"]
    with app.app_context():
        small = make_entity("Labo DSM C", profile_code="research-fr")
        make_user("dsm.user.c@labo-c.test", entity=small)
        make_user("dsm.ref.c@labo-c.test", entity=small, entity_role="referent")
        quota.grant(small, "dsm", quota.period_for(dt.date.today()), D("20"))
        commit()
    request_id = _submit(app, "dsm.user.c@labo-c.test", world.pair[0])
    with app.app_context():
        request = database.session.get_one(DsmRequest, request_id)
        assert request.status == DsmStatus.AWAITING_QUOTE and request.job_id is None
        assert request.quote_valid_until is not None
        tick = dt.datetime.combine(
            request.quote_valid_until + dt.timedelta(days=1), dt.time(0, 15), dt.UTC
        )
        job_id = defer("expire_orders", timestamp=int(tick.timestamp()))
        commit()
    done = _burst(scratch, app, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _job_status(app, job_id) == "succeeded"
    request = _read(app, request_id)
    assert request.status == DsmStatus.CANCELLED
    _ledger_balanced(app, request_id, D("0"))
    with app.app_context():
        keys = database.session.scalars(
            select(LedgerTransaction.idempotency_key).where(
                LedgerTransaction.reference == request.reference,
                LedgerTransaction.kind == "release",
            )
        ).all()
        assert keys == [f"release:{request.reference}:dsm:{request.period}:quote-expired"]
        mails = database.session.scalars(
            select(OutboxMessage).where(OutboxMessage.to_address == "dsm.user.c@labo-c.test")
        ).all()
        assert "Le devis a expiré." in mails[-1].body_text
        assert request.number in mails[-1].subject
        commit()
