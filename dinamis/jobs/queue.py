"""The one way to run background work: Procrastinate, a job queue kept in PostgreSQL.

Tasks are declared on `jobs` (see `dinamis.jobs.tasks`). A job is queued by
`defer()` inside the caller's transaction (it exists only if that commits)
and run by a worker (`dinamis worker`, or `make run`), which also defers the
periodic tasks on their schedule. Each job runs in the application's context
and commits once (`transaction()`), like a request or a CLI command; a failed
attempt's error is kept in `job_failures` for the staff's page. A worker that
queues the schedule also queues `send_mail` as soon as a request's new step is
written (`wake`), so that its requester is told within a second, not at the
next minute's tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

from flask import Flask
from procrastinate import App, JobContext, PsycopgConnector, SyncPsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import JobDeferrer
from procrastinate.manager import JobManager

from dinamis.core.errors import ServiceError
from dinamis.core.transaction import commit, rollback, transaction
from dinamis.extensions import db

log = logging.getLogger(__name__)
# Procrastinate announces every task it registers at import, in every process
# (web, CLI): only workers say more (`dinamis worker` lowers this to INFO).
logging.getLogger("procrastinate").setLevel(logging.WARNING)

# Unopened: deferring goes through the caller's connection (`defer`); the
# worker swaps in a connector on the configured database (`run_worker`).
jobs = App(connector=PsycopgConnector(), import_paths=["dinamis.jobs.tasks"])

_flask_app: Flask | None = None


def bind_app(app: Flask) -> None:
    """The Flask application the jobs of this process run in."""
    global _flask_app
    _flask_app = app


def _app() -> Flask:
    global _flask_app
    if _flask_app is None:  # a worker started without the CLI
        from dinamis import create_app

        _flask_app = create_app()
    return _flask_app


def conninfo(database_url: str) -> str:
    """The libpq URL of a SQLAlchemy one (without `+psycopg`)."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def error_text(exc: BaseException) -> str:
    """What staff read on the scheduler page: the message, then where it came from."""
    head = exc.message if isinstance(exc, ServiceError) else f"{type(exc).__name__}: {exc}"
    where = "".join(traceback.format_tb(exc.__traceback__, limit=-3))
    return f"{head}\n{where}".strip()[:4000]


def record_failure(context: JobContext, exc: BaseException) -> None:
    """Keep a failed attempt's error for the staff's page, in a transaction of its own (the
    caller's was rolled back)."""
    from dinamis.jobs.models import JobFailure

    job = context.job
    try:
        rollback()
        db.session.add(
            JobFailure(
                job_id=job.id or 0,
                task_name=job.task_name,
                attempt=(job.attempts or 0) + 1,
                error=error_text(exc),
            )
        )
        commit()
    except Exception:  # recording must never hide the job's own error
        log.exception("could not record the failure of job %s", job.id)


def run_job(context: JobContext, work: Callable[[], str]) -> str:
    """Run `work` in the application's context; one commit; failures recorded, then raised."""
    with _app().app_context():
        try:
            with transaction():
                return work()
        except Exception as exc:
            record_failure(context, exc)
            raise


# Writes a job on the caller's own (synchronous) connection. Not `jobs`' connector: in
# a worker that one is open on an asynchronous pool and refuses a synchronous connection
# (a job deferred by a job, a webhook event written by a step told in the worker).
_ON_CALLERS_CONNECTION = JobManager(SyncPsycopgConnector())


def defer(task_name: str, **kwargs: Any) -> int:
    """Queue a job in the current transaction; return its id.

    The job is written on the session's own connection: it exists only if
    the request (or command, or job) commits, and a worker sees it then.
    """
    task = jobs.tasks[task_name]
    # In a savepoint: a refused job (its queueing lock is taken) leaves the
    # caller's transaction usable.
    with db.session.begin_nested():
        raw = db.session.connection().connection.driver_connection
        configured = task.configure(connection=raw)  # the task's own options (its locks)
        job_id = JobDeferrer(_ON_CALLERS_CONNECTION, configured.job, raw).defer(**kwargs)
    return job_id


# How often a worker looks for new steps to tell (`wake`).
WAKE_EVERY_S = 0.5
WAKE_TASK = "send_mail"


def _untold() -> set[tuple[int, int]]:
    with _app().app_context():
        from dinamis.core import mail

        return mail.untold()


async def wake(app: App, every: float = WAKE_EVERY_S) -> None:
    """Queue `send_mail` whenever a step not told yet has appeared since the last look,
    every `every` seconds: its requester is told of it (e-mail, webhook events, whose own
    jobs follow at once) about `every` / 2 after its commit instead of at the next
    minute's tick. A step that could not be told stays for that tick.

    A look is one statement, the ids of the steps not told yet (`core.mail.untold`, the
    partial indexes of those steps), nothing in the requests that write the steps: a
    NOTIFY in their transaction would serialise their commits (PostgreSQL holds one lock
    from a notifying transaction's commit to its WAL flush; bench/orders/README.md). A
    job already waiting takes the new steps too (`send_mail`'s queueing lock).
    """
    seen: set[tuple[int, int]] = set()
    while True:
        try:
            untold = await asyncio.to_thread(_untold)
            if untold - seen:
                with contextlib.suppress(AlreadyEnqueued):
                    await app.tasks[WAKE_TASK].defer_async(timestamp=int(time.time()))
            seen = untold
        except Exception:  # the database away for a moment: the next look tries again
            log.exception("could not look for steps to tell")
        await asyncio.sleep(every)


async def _run(app: App, *, woken: bool, **options: Any) -> None:
    async with app.open_async():
        waking = asyncio.create_task(wake(app)) if woken else None
        try:
            await app.run_worker_async(**options)
        finally:
            if waking is not None:
                waking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waking


def run_worker(
    database_url: str, *, concurrency: int = 1, burst: bool = False, schedule: bool = True
) -> None:
    """Run a worker until stopped (SIGINT/SIGTERM); `burst`: until the queue is empty.

    With `schedule` (the default) the worker also defers the periodic tasks on
    their schedule; any number of workers may do so, each tick is deferred once.
    Such a worker, unless `burst`, also queues the telling of new steps (`wake`).
    """
    logging.getLogger("procrastinate").setLevel(logging.INFO)
    connector = PsycopgConnector(conninfo=conninfo(database_url), min_size=1, max_size=4)
    with jobs.replace_connector(connector) as app:
        registry = app.periodic_registry.periodic_tasks
        kept = dict(registry)
        if not schedule:
            registry.clear()
        try:
            asyncio.run(
                _run(
                    app,
                    woken=schedule and not burst,
                    concurrency=concurrency,
                    wait=not burst,
                    install_signal_handlers=True,
                    fetch_job_polling_interval=5.0,
                )
            )
        finally:
            registry.update(kept)
