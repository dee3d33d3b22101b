"""Two codes' tasking submissions in-process, batch by batch in turn: CPU a submission.

    .venv/bin/python bench/orders/interleaved.py /tmp/dinamis-bench/code-11a67ce . \\
        --rounds 12 --batch 60

Each code runs in a process of its own with its package first on the path (an earlier
revision's copy made by bench/revisions.py, `--before REV` makes it), over its own scratch
database (its bench/orders/run.py's `scratch_app`: one entity whose allowance never runs
out, one token). Round by round, in turn (the order alternating), each is asked for a
batch of `--batch` submissions through Flask's test client; a batch's CPU is the
process's (user + system, `time.process_time`) and its PostgreSQL backend's (from /proc),
divided by the batch's submissions. Printed: per code min / median of the batches, and the
median over the rounds of B's figure / A's figure (the same round, so the machine's load
moves both). CPU time, unlike wall time, hardly moves with the other sessions' load.

`--callgrind` instead runs each code once under `valgrind --tool=callgrind`, its
instrumentation switched on (callgrind's client requests, a small C library built with gcc)
only around `--batch` submissions after the warm-up: instructions a submission of the
Python process (not PostgreSQL's), the same for the same code whatever the load.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def serve(code: str, callgrind: bool) -> None:
    """The worker: a scratch app of `code`; reads a batch size a line, answers its CPU."""
    sys.path.insert(0, code)
    os.chdir(code)
    from bench.orders.profile_submit import _backend_ticks, _backends
    from bench.orders.run import scratch_app, tasking_body

    toggle = _callgrind_toggle() if callgrind else None
    tick = os.sysconf("SC_CLK_TCK")
    path = "/api/v1/tasking-requests"
    with scratch_app("orders_interleaved") as (app, seeded):
        client = app.test_client()  # type: ignore[attr-defined]
        headers = {"Authorization": f"Bearer {seeded.hot[0]}"}
        for n in range(30):  # warm-up: caches, prepared statements, the pool
            assert client.post(path, json=tasking_body(n), headers=headers).status_code == 201
        # As a served app (dinamis.wsgi.make_app): the start-up's objects out of the
        # collector's generations, so that a full collection does not fall in one batch.
        gc.collect()
        gc.freeze()
        pids = _backends(app)
        assert client.post(path, json=tasking_body(30), headers=headers).status_code == 201
        sent = 31
        print("ready", flush=True)
        for line in sys.stdin:
            n = int(line)
            if toggle is not None:
                toggle.start()
            c0, t0, w0 = time.process_time(), _backend_ticks(pids), time.perf_counter()
            for i in range(n):
                response = client.post(path, json=tasking_body(sent + i), headers=headers)
                assert response.status_code == 201, response.data[:300]
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            backend = (_backend_ticks(pids) - t0) / tick
            if toggle is not None:
                toggle.stop()
            sent += n
            print(json.dumps([cpu / n, backend / n, wall / n]), flush=True)


TOGGLE_C = """
#include <valgrind/callgrind.h>
void start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""


def _callgrind_toggle() -> ctypes.CDLL:
    """callgrind's client requests (counts zeroed and instrumentation on; off) as two C functions:
    no-ops outside valgrind. Built with gcc and valgrind's header at first use."""
    built = Path(tempfile.gettempdir()) / "orders-callgrind-toggle.so"
    if not built.exists():
        source = built.with_suffix(".c")
        source.write_text(TOGGLE_C)
        command = ["gcc", "-shared", "-fPIC", "-O1", "-o", str(built), str(source)]
        subprocess.run(command, check=True)  # noqa: S603
    return ctypes.CDLL(str(built))


def _worker(code: str, callgrind: bool, out: Path | None) -> subprocess.Popen[str]:
    argv = [sys.executable, __file__, "x", "x", "--serve", str(Path(code).resolve())]
    if callgrind:
        assert out is not None
        argv = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            *argv,
        ]
    env = {**os.environ, "PYTHONPATH": str(Path(code).resolve())}
    worker = subprocess.Popen(  # noqa: S603
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert worker.stdout is not None
    while (line := worker.stdout.readline()) and line.strip() != "ready":
        pass
    if not line:
        raise SystemExit(f"the worker of {code} ended before it was ready")
    return worker


def _ask(worker: subprocess.Popen[str], n: int) -> list[float]:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(f"{n}\n")
    worker.stdin.flush()
    return list(json.loads(worker.stdout.readline()))


def _stop(worker: subprocess.Popen[str]) -> None:
    assert worker.stdin is not None
    worker.stdin.close()
    worker.wait()


def _instructions(out: Path) -> int:
    """The instructions counted in a callgrind output file (its `totals:` line: its
    `summary:` says 0 once the counts were zeroed)."""
    for line in out.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"no total in {out}")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "a", help="the code compared with (a revision's copy), or '-' with --before"
    )
    parser.add_argument("b", help="the code compared (this tree: .)")
    parser.add_argument("--before", help="a git revision: A is its code (bench/revisions.py)")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--batch", type=int, default=60)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, os.environ.get("BENCH_CALLGRIND") == "1")
        return
    if args.before:
        sys.path.insert(0, str(ROOT))
        from bench.revisions import extract

        args.a = str(extract(args.before, Path(tempfile.gettempdir()) / f"code-{args.before}"))
    codes = {"A": args.a, "B": args.b}
    print(f"A = {Path(args.a).resolve()}, B = {Path(args.b).resolve()}; load {_load()}")
    if args.callgrind:
        os.environ["BENCH_CALLGRIND"] = "1"
        scratch = Path(tempfile.mkdtemp(prefix="orders-callgrind-"))
        counts = {}
        for label, code in codes.items():
            out = scratch / f"callgrind.{label}"
            worker = _worker(code, True, out)
            _ask(worker, args.batch)
            _stop(worker)
            counts[label] = _instructions(out) / args.batch
            shutil.copy(out, Path(tempfile.gettempdir()) / f"orders-callgrind.{label}")
            out.unlink()
            print(f"{label}: {counts[label]:,.0f} instructions a submission", flush=True)
        scratch.rmdir()
        print(f"B/A {counts['B'] / counts['A']:.3f}; load {_load()}")
        return
    workers = {label: _worker(code, False, None) for label, code in codes.items()}
    figures: dict[str, list[list[float]]] = {"A": [], "B": []}
    ratios: dict[str, list[float]] = {"process": [], "postgresql": [], "both": []}
    for number in range(args.rounds):
        got = {}
        for label in "AB" if number % 2 == 0 else "BA":
            got[label] = _ask(workers[label], args.batch)
            figures[label].append(got[label])
        a, b = got["A"], got["B"]
        ratios["process"].append(b[0] / a[0])
        if a[1] > 0:
            ratios["postgresql"].append(b[1] / a[1])
        ratios["both"].append((b[0] + b[1]) / (a[0] + a[1]))
    for worker in workers.values():
        _stop(worker)
    for label, rows in figures.items():
        ours = sorted(r[0] * 1e3 for r in rows)
        theirs = sorted(r[1] * 1e3 for r in rows)
        print(
            f"{label}: CPU a submission, this process min {ours[0]:.2f} / median "
            f"{statistics.median(ours):.2f} ms; PostgreSQL min {theirs[0]:.2f} / median "
            f"{statistics.median(theirs):.2f} ms"
        )
    print(
        "B/A, median of the rounds: "
        + ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in ratios.items() if v)
        + f"; {args.rounds} rounds of {args.batch}; load {_load()}"
    )


if __name__ == "__main__":
    main()
