"""Background jobs for real: a worker process against a committed scratch database.

The per-test rollback of tests/conftest.py is invisible to another process,
so these tests migrate a database of their own, write to it with real commits
(the app's sessions bound to it for the test), and run `dinamis worker` (or
`dinamis run-all`) as a separate process on it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import sessionmaker

from dinamis import PROJECT_ROOT
from dinamis.core.db import connect_args
from dinamis.core.migrate import alembic_config
from dinamis.core.transaction import commit
from dinamis.extensions import db as database
from dinamis.jobs import queue
from dinamis.jobs.models import JobFailure
from dinamis.jobs.tasks import CRON, SCHEDULE
from dinamis.quota import service as quota
from dinamis.quota.models import AllowanceRule, LedgerTransaction
from tests.conftest import create_database, drop_database, login, unique_db_name
from tests.factories import make_entity, make_profile, make_user
from tests.helpers import csrf_token


@pytest.fixture(scope="module")
def scratch_url():
    name = unique_db_name("jobs")
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


@pytest.fixture
def scratch(app, scratch_engine, scratch_url):
    """The app's sessions on the scratch database for this test: commits are real."""
    database.bind(sessionmaker(bind=scratch_engine, expire_on_commit=False), app)
    return scratch_url


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DINAMIS_")}
    env.update(
        DATABASE_URL=url,
        DINAMIS_LOG_JSON="false",
        DINAMIS_LOG_LEVEL="INFO",
        PYTHONPATH=str(PROJECT_ROOT),
        **extra,
    )
    env.pop("HOST", None)
    env.pop("PORT", None)
    return env


def _worker(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`dinamis worker --burst --no-schedule`: run what is queued, then stop."""
    return subprocess.run(  # noqa: S603 (our own command)
        [sys.executable, "-m", "dinamis.cli", "worker", "--burst", "--no-schedule", *args],
        env=_env(url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _jobs(task: str) -> list[tuple[int, str]]:
    return [
        (row.id, row.status)
        for row in database.session.execute(
            text(
                "SELECT id, status::text AS status FROM procrastinate_jobs "
                "WHERE task_name = :t ORDER BY id"
            ),
            {"t": task},
        )
    ]


def test_every_scheduled_task_is_a_periodic_task_of_the_queue():
    periodic = {key[0]: p.cron for key, p in queue.jobs.periodic_registry.periodic_tasks.items()}
    assert periodic == CRON
    assert {s.task for s in SCHEDULE} <= set(queue.jobs.tasks)
    assert CRON["open_periods"] == "5 0 * * *"  # daily: the first day of each period included
    from dinamis.jobs.service import next_run

    after = dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.UTC)
    assert next_run(CRON["open_periods"], after) == dt.datetime(2027, 1, 1, 0, 5, tzinfo=dt.UTC)
    assert next_run(CRON["send_mail"], after) == dt.datetime(2026, 12, 31, 23, 1, tzinfo=dt.UTC)


def test_a_periodic_task_opens_a_period_once_though_deferred_twice(app, scratch):
    tick = int(dt.datetime(2027, 1, 1, 0, 5, tzinfo=dt.UTC).timestamp())
    with app.app_context():
        profile = make_profile("research-fr")
        database.session.add(
            AllowanceRule(profile_id=profile.id, family="tasking", km2=Decimal("1200"))
        )
        entity = make_entity("Lab Jobs", membership_start=dt.date(2025, 3, 1))
        commit()
        entity_id = entity.id
        # The scheduler defers a tick once per (task, time), however many workers try...
        periodic = text(
            "SELECT procrastinate_defer_periodic_job_v2('default', 'open_periods', NULL, "
            "'open_periods', 0, '', :ts, CAST(:args AS jsonb)) AS id"
        )
        args = f'{{"timestamp": {tick}}}'
        first = database.session.scalar(periodic, {"ts": tick, "args": args})
        second = database.session.scalar(periodic, {"ts": tick, "args": args})
        assert first is not None and second is None
        # ...and a job queued again by hand for the same day opens nothing more.
        queue.defer("open_periods", timestamp=tick)
        commit()
        assert [status for _id, status in _jobs("open_periods")] == ["todo", "todo"]

    ran = _worker(scratch)
    assert ran.returncode == 0, ran.stderr[-3000:]

    with app.app_context():
        assert [status for _id, status in _jobs("open_periods")] == ["succeeded", "succeeded"]
        grants = database.session.scalars(
            select(LedgerTransaction).where(
                LedgerTransaction.idempotency_key == f"grant:{entity_id}:tasking:2027"
            )
        ).all()
        assert len(grants) == 1
        from dinamis.membership.models import Entity

        (balance,) = [
            b for b in quota.balances(database.session.get(Entity, entity_id)) if b.period == "2027"
        ]
        assert balance.granted == Decimal("1200.00")


def test_a_failing_job_is_recorded_and_shown_to_staff(app, client, scratch):
    with app.app_context():
        job_id = queue.defer("open_periods", timestamp=int(time.time()), period="27")
        make_user("staff.jobs@dinamis.test", role="staff", language="en")
        commit()

    ran = _worker(scratch)
    assert ran.returncode == 0, ran.stderr[-3000:]

    with app.app_context():
        (failure,) = database.session.scalars(
            select(JobFailure).where(JobFailure.job_id == job_id)
        ).all()
        assert failure.task_name == "open_periods" and failure.attempt == 1
        assert "2027-Q1" in failure.error  # the service's own message, then where it came from
        # it failed once and waits for its retry (in a minute)
        assert dict(_jobs("open_periods"))[job_id] == "todo"

    login(client, "staff.jobs@dinamis.test")
    page = client.get("/admin/jobs/").get_data(as_text=True)
    assert "Scheduled tasks" in page and "every day at 00:05 UTC" in page
    assert f"job {job_id}, attempt 1" in page
    assert "2027-Q1" in page
    assert "No worker is running" in page  # the burst worker has gone
    only = client.get("/admin/jobs/?task=open_periods").get_data(as_text=True)
    assert "Recent jobs of open_periods" in only
    assert client.get("/admin/jobs/?task=nope").status_code == 404

    # staff queue a task now; it runs like its tick
    token = csrf_token(client, "/admin/jobs/")
    queued = client.post("/admin/jobs/expire_orders/run", data={"csrf_token": token})
    assert queued.status_code == 302
    assert client.post("/admin/jobs/nope/run", data={"csrf_token": token}).status_code == 404
    with app.app_context():
        assert [status for _id, status in _jobs("expire_orders")] == ["todo"]
    ran = _worker(scratch)
    assert ran.returncode == 0, ran.stderr[-3000:]
    with app.app_context():
        assert [status for _id, status in _jobs("expire_orders")] == ["succeeded"]
    page = client.get("/admin/jobs/").get_data(as_text=True)
    assert "succeeded" in page


def test_staff_ask_for_the_yearly_pdf_a_worker_makes_it_the_page_serves_it(app, client, scratch):
    """The programme's yearly PDF, on the queue: asked on its page, made by a worker
    process (progress through its stages to ready), then served from the database."""
    from dinamis.reports.models import YearlyPdf

    year = dt.date.today().year
    with app.app_context():
        make_user("staff.yearly@dinamis.test", role="staff", language="en")
        commit()
    login(client, "staff.yearly@dinamis.test")
    token = csrf_token(client, f"/reports/yearly/{year}")
    asked = client.post(f"/reports/yearly/{year}/make", data={"csrf_token": token})
    assert asked.status_code == 302
    page = client.get(f"/reports/yearly/{year}").get_data(as_text=True)
    assert "queued" in page and 'http-equiv="refresh"' in page
    with app.app_context():
        assert [status for _id, status in _jobs("yearly_pdf")] == ["todo"]

    ran = _worker(scratch)
    assert ran.returncode == 0, ran.stderr[-3000:]
    with app.app_context():
        assert [status for _id, status in _jobs("yearly_pdf")] == ["succeeded"]
        (document,) = database.session.scalars(select(YearlyPdf)).all()
        assert document.status == "ready" and document.progress == 100
        assert document.attempts == 1 and document.language == "en"
        document_id = document.id
        commit()
    page = client.get(f"/reports/yearly/{year}").get_data(as_text=True)
    assert "ready" in page and 'http-equiv="refresh"' not in page
    served = client.get(f"/reports/yearly/documents/{document_id}.pdf")
    assert served.mimetype == "application/pdf" and served.data[:5] == b"%PDF-"
    import io

    from pypdf import PdfReader

    first = PdfReader(io.BytesIO(served.data)).pages[0].extract_text()
    assert f"Dinamis {year}: the programme's yearly report" in " ".join(first.split())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append((int(stat.parent.name), cmdline))
    return found


def test_run_all_starts_a_worker_with_the_app_and_stops_it_with_the_app(app, scratch, tmp_path):
    port = _free_port()
    output = (tmp_path / "run-all.log").open("wb")
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "dinamis run-all --host $(HOST) --port $(PORT)" in makefile
    supervisor = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "dinamis.cli", "run-all", "--port", str(port)],
        env=_env(scratch),
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so that the test can stop all of it, whatever happens
    )
    try:
        deadline = time.monotonic() + 180  # two processes starting on a busy machine
        served = workers = 0
        while time.monotonic() < deadline and not (served and workers):
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    served = r.status
            except OSError:
                pass
            with app.app_context():
                workers = database.session.scalar(
                    text("SELECT count(*) FROM procrastinate_workers")
                )
                commit()
        assert served == 200 and workers == 1, (tmp_path / "run-all.log").read_text()[-3000:]
        children = _children(supervisor.pid)
        (web,) = [pid for pid, cmd in children if " run " in f"{cmd} "]
        (worker,) = [pid for pid, cmd in children if " worker" in cmd]
        os.kill(web, signal.SIGTERM)  # the app stops...
        assert supervisor.wait(timeout=30) is not None
        with pytest.raises(ProcessLookupError):  # ...and so does its worker
            for _ in range(50):
                os.kill(worker, 0)
                time.sleep(0.1)
        with app.app_context():
            # it stopped cleanly: unregistered
            assert database.session.scalar(text("SELECT count(*) FROM procrastinate_workers")) == 0
            commit()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(supervisor.pid, signal.SIGKILL)
        supervisor.wait()
