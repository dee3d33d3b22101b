"""`dinamis worker` (run jobs and the schedule) and `dinamis run-all` (the app with a worker)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from dinamis.jobs import queue


@click.command("worker")
@click.option(
    "--concurrency", "-c", default=1, show_default=True, help="Jobs run at once by each process."
)
@click.option(
    "--processes", "-n", default=1, show_default=True, help="Worker processes to start here."
)
@click.option("--burst", is_flag=True, help="Run the jobs waiting now, then stop.")
@click.option(
    "--no-schedule",
    is_flag=True,
    help="Do not queue the periodic tasks (another worker does).",
)
@with_appcontext
def worker_command(concurrency: int, processes: int, burst: bool, no_schedule: bool) -> None:
    """Run background jobs from the database's queue, and queue the periodic tasks on time.

    Start as many as needed, on any machine that reaches the database (same
    DATABASE_URL and settings as the app); each periodic tick is queued once.
    """
    if concurrency < 1 or processes < 1:
        raise click.BadParameter("--concurrency and --processes are at least 1.")
    if processes > 1:
        args = ["worker", "--concurrency", str(concurrency)]
        args += ["--burst"] if burst else []
        args += ["--no-schedule"] if no_schedule else []
        sys.exit(supervise([args] * processes, restart=set()))
    queue.bind_app(current_app._get_current_object())  # type: ignore[attr-defined]
    queue.run_worker(
        current_app.config["DATABASE_URL"],
        concurrency=concurrency,
        burst=burst,
        schedule=not no_schedule,
    )


@click.command("run-all")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def run_all_command(host: str, port: int) -> None:
    """The development server and one worker (with the schedule): stopping the app stops both.

    A worker that exits while the app runs is started again.
    """
    web = ["run", "--host", host, "--port", str(port)]
    sys.exit(supervise([web, ["worker"]], restart={1}))


def _die_with_parent() -> None:
    """In the child, on Linux: be sent SIGTERM if the supervisor itself is killed."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the supervisor's own stop still applies
        pass


def _dinamis(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "dinamis.cli", *args],
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def supervise(commands: list[list[str]], restart: set[int]) -> int:
    """Run `dinamis` commands side by side until the first one not in `restart` ends.

    SIGINT or SIGTERM stop them all. Returns the exit code of the one that
    ended (or 0 when stopped by a signal).
    """
    children = [_dinamis(args) for args in commands]
    stopping = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        while not stopping:
            for index, child in enumerate(children):
                returned = child.poll()
                if returned is None:
                    continue
                if index in restart:
                    click.echo(f"dinamis {commands[index][0]} ended ({returned}); restarting it")
                    time.sleep(2)
                    children[index] = _dinamis(commands[index])
                else:
                    code, stopping = returned, True
                    break
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code
