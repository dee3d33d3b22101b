"""What the staff's scheduler page shows: each scheduled task, recent jobs, the workers."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import croniter
from flask_babel import gettext as _
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import select, text

from dinamis.accounts.models import User
from dinamis.core.db import utcnow
from dinamis.core.errors import Conflict, Forbidden, NotFound
from dinamis.extensions import db
from dinamis.jobs.models import JobFailure
from dinamis.jobs.permissions import can_view_jobs
from dinamis.jobs.queue import defer
from dinamis.jobs.tasks import SCHEDULE, Schedule

# A worker that has not beaten for this long is taken as gone (it beats every 10 s).
WORKER_TIMEOUT = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Run:
    job_id: int
    task: str
    status: str  # todo, doing, succeeded, failed, cancelled, aborted
    attempts: int
    queued_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str | None  # the last failed attempt's error


@dataclass(frozen=True)
class ScheduledTask:
    schedule: Schedule
    next_run: dt.datetime
    last_run: Run | None  # the last job that ended (succeeded or failed)
    last_failure: JobFailure | None


def next_run(cron: str, after: dt.datetime) -> dt.datetime:
    """The next tick of `cron` after `after` (UTC)."""
    return croniter.croniter(cron, after.astimezone(dt.UTC)).get_next(dt.datetime)


_RUNS = """
    SELECT j.id, j.task_name, j.status::text AS status, j.attempts,
        (SELECT min(e.at) FROM procrastinate_events e
            WHERE e.job_id = j.id AND e.type = 'deferred') AS queued_at,
        (SELECT max(e.at) FROM procrastinate_events e
            WHERE e.job_id = j.id AND e.type = 'started') AS started_at,
        (SELECT max(e.at) FROM procrastinate_events e
            WHERE e.job_id = j.id AND e.type IN ('succeeded', 'failed', 'cancelled', 'aborted'))
            AS finished_at,
        (SELECT f.error FROM job_failures f WHERE f.job_id = j.id ORDER BY f.id DESC LIMIT 1)
            AS error
    FROM procrastinate_jobs j
"""

# The last ended job of each task: one backward walk of the primary key per task.
_LAST_RUNS = text(
    f"""
    SELECT r.* FROM unnest(CAST(:tasks AS text[])) AS t(name)
    CROSS JOIN LATERAL (
        {_RUNS}
        WHERE j.task_name = t.name AND j.status IN ('succeeded', 'failed')
        ORDER BY j.id DESC LIMIT 1
    ) AS r
    """  # noqa: S608 (constant text)
)


def _run(row: Any) -> Run:
    return Run(
        row.id,
        row.task_name,
        row.status,
        row.attempts,
        row.queued_at,
        row.started_at,
        row.finished_at,
        row.error,
    )


def scheduled_tasks(now: dt.datetime | None = None) -> list[ScheduledTask]:
    """Every scheduled task with its next tick, its last run and its last failure."""
    now = now or utcnow()
    names = [s.task for s in SCHEDULE]
    last = {row.task_name: _run(row) for row in db.session.execute(_LAST_RUNS, {"tasks": names})}
    failures = {}
    for name in names:
        failures[name] = db.session.scalar(
            select(JobFailure)
            .where(JobFailure.task_name == name)
            .order_by(JobFailure.id.desc())
            .limit(1)
        )
    return [
        ScheduledTask(s, next_run(s.cron, now), last.get(s.task), failures[s.task])
        for s in SCHEDULE
    ]


def recent_jobs(task: str | None = None, limit: int = 30) -> list[Run]:
    """The newest jobs first (of one task when given)."""
    where = "WHERE j.task_name = :task" if task else ""
    query = text(f"{_RUNS} {where} ORDER BY j.id DESC LIMIT :limit")
    return [_run(row) for row in db.session.execute(query, {"task": task, "limit": limit})]


@dataclass(frozen=True)
class Worker:
    id: int
    last_heartbeat: dt.datetime


def live_workers(now: dt.datetime | None = None) -> list[Worker]:
    """Workers that beat within the last minute."""
    now = now or utcnow()
    rows = db.session.execute(
        text("SELECT id, last_heartbeat FROM procrastinate_workers ORDER BY id")
    )
    return [Worker(r.id, r.last_heartbeat) for r in rows if now - r.last_heartbeat < WORKER_TIMEOUT]


def run_now(actor: User, task: str) -> int:
    """Staff queue a scheduled task now (it runs as at its tick: idempotent)."""
    if not can_view_jobs(actor):
        raise Forbidden(_("Only staff run scheduled tasks."))
    if task not in {s.task for s in SCHEDULE}:
        raise NotFound(_("There is no scheduled task %(task)s.", task=task))
    try:
        return defer(task, timestamp=int(time.time()))
    except AlreadyEnqueued:
        raise Conflict(_("This task is already waiting for a worker.")) from None
