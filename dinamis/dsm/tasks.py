"""The computation of a surface model, as a Procrastinate task.

`compute_dsm` takes a queued request (`service.start`, its own transaction),
runs the engine in a child process group (`dinamis.dsm.runner`), records the
progress it reports (each report a short transaction), and ends with one
transaction: the delivery into the catalogue, a retry, or the failure. While
it runs it watches for cancellation (the request cancelled, or the job's abort
asked through Procrastinate) and for the time limit, and then kills the
engine's whole process group. Transient engine failures are retried (a new
attempt, DINAMIS_DSM_MAX_ATTEMPTS in all); a worker that dies mid-job is taken
back by the periodic `recover_dsm` task (jobs/tasks.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procrastinate import JobContext, RetryStrategy
from procrastinate.exceptions import JobAborted

from dinamis.core.transaction import transaction
from dinamis.jobs.queue import _app, jobs, record_failure

if TYPE_CHECKING:
    from dinamis.dsm.service import Started

log = logging.getLogger(__name__)

GRACE_S = 30  # beyond the engine's own time limit, before it is killed from outside
WATCH_S = 2.0  # how often cancellation is looked for while the engine is quiet


class TransientFailure(Exception):
    """A failure worth another attempt: Procrastinate retries the job."""


# Only transient failures are retried; the task counts the attempts itself.
RETRY = RetryStrategy(max_attempts=100, wait=30, retry_exceptions={TransientFailure})


@dataclass
class Outcome:
    kind: str  # "output", "error", "timeout", "cancelled", "aborted"
    record: dict[str, Any]
    log: str


def _tail(path: Path, size: int = 100_000) -> str:
    try:
        with path.open("rb") as reader:
            reader.seek(0, os.SEEK_END)
            reader.seek(max(0, reader.tell() - size))
            return reader.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _logs(workdir: Path, stderr_path: Path) -> str:
    """What staff read: the end of every log the engine wrote in its directory, then the
    runner's own error output."""
    parts = []
    for path in sorted(workdir.rglob("*.log"))[:20]:
        parts.append(f"== {path.relative_to(workdir)}\n{_tail(path, 50_000)}")
    stderr = _tail(stderr_path)
    if stderr.strip():
        parts.append(f"== stderr\n{stderr}")
    return "\n".join(parts)


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_engine(started: Started, context: JobContext | None) -> Outcome:
    """Run the runner process for `started`; report progress; stop it when told to."""
    from dinamis.dsm import service

    rules = service.settings()
    workdir = service.workdir_for(started.request_id, started.attempt)
    workdir.mkdir(parents=True, exist_ok=True)
    spec = {
        "engine": rules.engine,
        "images": [str(p) for p in started.images],
        "aoi_wkt": started.aoi_wkt,
        "resolution_m": started.resolution_m,
        "orchestrator": rules.orchestrator,
        "workers": rules.workers,
        "workdir": str(workdir),
        "timeout_s": rules.time_limit_s,
    }
    stderr_path = workdir / "runner.stderr"
    with stderr_path.open("wb") as stderr, tempfile.TemporaryFile() as stdin:
        stdin.write(json.dumps(spec).encode())
        stdin.seek(0)
        from dinamis import PROJECT_ROOT

        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *sys.path])}
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from dinamis.dsm.runner import main, "
                "_die_with_parent; _die_with_parent(); sys.exit(main())",
            ],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,  # its own process group: killed as one
            env=env,
        )
    assert process.stdout is not None
    deadline = time.monotonic() + rules.time_limit_s + GRACE_S
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    buffer, last_record, watched = b"", None, time.monotonic()
    try:
        while True:
            if time.monotonic() > deadline:
                _kill(process)
                return Outcome("timeout", {}, _logs(workdir, stderr_path))
            if context is not None and context.should_abort():
                _kill(process)
                return Outcome("aborted", {}, _logs(workdir, stderr_path))
            if time.monotonic() - watched > WATCH_S:
                watched = time.monotonic()
                with transaction():
                    running = service.still_running(started.request_id)
                if not running:
                    _kill(process)
                    return Outcome("cancelled", {}, _logs(workdir, stderr_path))
            if not selector.select(timeout=0.5):
                if process.poll() is not None and not buffer:
                    break
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                process.wait()
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # something the engine printed itself
                if "progress" in record:
                    with transaction():
                        running = service.progress(
                            started.request_id, record["progress"], record.get("message", "")
                        )
                    if not running:
                        _kill(process)
                        return Outcome("cancelled", {}, _logs(workdir, stderr_path))
                else:
                    last_record = record
    finally:
        selector.close()
        if process.poll() is None:
            _kill(process)
    if last_record and "output" in last_record:
        return Outcome("output", last_record["output"], _logs(workdir, stderr_path))
    if last_record and "error" in last_record:
        return Outcome("error", last_record, _logs(workdir, stderr_path))
    return Outcome(
        "error",
        {"error": f"the engine ended ({process.returncode}) without an answer", "transient": True},
        _logs(workdir, stderr_path),
    )


def _product(record: dict[str, Any], logs: str) -> Any:
    from dinamis.dsm.service import Product

    log_path = Path(record["log_path"]) if record.get("log_path") else None
    engine_log = _tail(log_path, 150_000) if log_path and log_path.is_file() else ""
    if engine_log and engine_log.strip() in logs:
        engine_log = ""  # in the directory's logs already
    return Product(
        dsm_cog=Path(record["dsm_cog"]),
        hillshade_png=Path(record["hillshade_png"]),
        bbox=list(record["bbox"]),
        epsg=int(record["epsg"]),
        vertical_reference=str(record["vertical_reference"]),
        nodata=float(record["nodata"]),
        valid_fraction=float(record["valid_fraction"]),
        log=(engine_log + ("\n" + logs if logs else "")).strip(),
        cars_version=str(record["cars_version"]),
    )


def compute(request_id: int, context: JobContext | None) -> str:
    """The whole computation of one request (the task's body, also callable in tests)."""
    from dinamis.dsm import service
    from dinamis.dsm.models import Failure

    job_id = context.job.id if context is not None else None
    with transaction():
        started = service.start(request_id, job_id)
    if started is None:
        return "nothing to do (cancelled or ended)"
    outcome = run_engine(started, context)
    if outcome.kind == "output":
        with transaction():
            delivered = service.deliver(request_id, _product(outcome.record, outcome.log))
        service.clean_workdir(request_id)
        return f"delivered {delivered.item_id}" if delivered else "cancelled meanwhile"
    if outcome.kind in ("cancelled", "aborted"):
        service.clean_workdir(request_id)
        if outcome.kind == "aborted":
            raise JobAborted()
        return "cancelled"
    if outcome.kind == "timeout":
        with transaction():
            service.fail_by_id(
                request_id, Failure.TIMEOUT, "stopped at the time limit", outcome.log
            )
        service.clean_workdir(request_id)
        return "timed out"
    message = str(outcome.record.get("error", "unknown error"))
    if outcome.record.get("transient"):
        with transaction():
            left = service.attempts_left(request_id)
            if left:
                service.retry(request_id, "retry_transient", message, outcome.log)
            else:
                service.fail_by_id(request_id, Failure.TRANSIENT, message, outcome.log)
        if left:
            raise TransientFailure(message)
        service.clean_workdir(request_id)
        return "failed (transient, no attempt left)"
    with transaction():
        service.fail_by_id(request_id, Failure.ENGINE, message, outcome.log)
    service.clean_workdir(request_id)
    return "failed"


@jobs.task(name="compute_dsm", pass_context=True, retry=RETRY, queue="dsm")
def compute_dsm(context: JobContext, request_id: int) -> str:
    """Compute a requested surface model (see the module's docstring)."""
    from dinamis.extensions import db

    with _app().app_context():
        try:
            return compute(request_id, context)
        except (JobAborted, TransientFailure) as exc:
            if isinstance(exc, TransientFailure):
                record_failure(context, exc)
            raise
        except Exception as exc:
            log.exception("compute_dsm %s", request_id)
            db.session.rollback()
            record_failure(context, exc)
            _fail_unexpected(request_id, exc)
            raise


def _fail_unexpected(request_id: int, exc: BaseException) -> None:
    """A bug of ours: the request fails (released, the requester told) rather than stay
    running; staff read the error."""
    from dinamis.dsm import service
    from dinamis.dsm.models import Failure
    from dinamis.jobs.queue import error_text

    try:
        with transaction():
            service.fail_by_id(request_id, Failure.ENGINE, error_text(exc))
    except Exception:
        log.exception("could not mark request %s failed", request_id)
