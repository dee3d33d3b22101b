"""Two codes' STAC requests in-process, interleaved: this tree against an earlier revision.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
        .venv/bin/python bench/catalogue/interleaved.py /tmp/dinamis-bench/code-2c786ff . \\
        --queries "dense city,France bbox +" --pages 1,2 --rounds 16 --repeat 4

Each code runs in a process of its own (Flask's test client, no HTTP server), with its
package first on the path (an earlier revision's copy: bench/revisions.py, as
compare.py --before extracts it). Round by round the two are asked the same page of
compare.py's queries `--repeat` times, in turn (the order alternating); printed per query
and page: wall time (the request through PostgreSQL and back) min / lower quartile /
median for A and B, and the median over the rounds of B's minimum / A's minimum. Less
noisy than compare.py's client-side figures on a busy machine (no server, no client
sockets), but a page that takes more of PostgreSQL's or of the Python process's time
shows here as in compare.py. Read-only against the database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from bench.catalogue.compare import QUERIES  # noqa: E402


def serve(code: str) -> None:
    """The worker: reads {"name", "page", "repeat"} lines, answers [[seconds...]] lines."""
    sys.path.insert(0, code)
    sys.path.insert(1, str(HERE))
    from request_cpu import _get, _next, bench_app

    app = bench_app()
    client = app.test_client()
    asked: dict[tuple[str, int], Any] = {}
    for line in sys.stdin:
        command = json.loads(line)
        key = (command["name"], command["page"])
        method, body, _pages = QUERIES[command["name"]]
        if key not in asked:
            request: Any = body
            for _ in range(command["page"] - 1):
                request = _next(_get(client, method, request)) if request is not None else None
            asked[key] = request
        took = []
        for _ in range(command["repeat"] if asked[key] is not None else 0):
            started = time.perf_counter()
            response = _get(client, method, asked[key])
            took.append(time.perf_counter() - started)
            assert response.status_code == 200, response.data[:300]
        print(json.dumps(took), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="the code to compare with (an extracted revision's copy)")
    parser.add_argument("b", help="the code compared (this tree: .)")
    parser.add_argument("--queries", default="", help="comma-separated parts of query names")
    parser.add_argument("--pages", default="1,2")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    wanted = [part.lower() for part in args.queries.split(",") if part]
    names = [n for n in QUERIES if not wanted or any(part in n.lower() for part in wanted)]
    workers = {
        label: subprocess.Popen(  # noqa: S603
            [sys.executable, __file__, "x", "x", "--serve", str(Path(code).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for label, code in (("A", args.a), ("B", args.b))
    }

    def ask(label: str, name: str, page: int, repeat: int) -> list[float]:
        worker = workers[label]
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(json.dumps({"name": name, "page": page, "repeat": repeat}) + "\n")
        worker.stdin.flush()
        return list(json.loads(worker.stdout.readline()))

    for name in names:
        for page in (int(p) for p in args.pages.split(",")):
            if not ask("A", name, page, 3) or not ask("B", name, page, 3):
                continue  # no such page
            times: dict[str, list[float]] = {"A": [], "B": []}
            ratios = []
            for number in range(args.rounds):
                least = {}
                for label in "AB" if number % 2 == 0 else "BA":
                    took = ask(label, name, page, args.repeat)
                    times[label] += took
                    least[label] = min(took)
                ratios.append(least["B"] / least["A"])
            figures = " | ".join(
                f"{label} {min(t) * 1e3:.2f} / {statistics.quantiles(t, n=4)[0] * 1e3:.2f}"
                f" / {statistics.median(t) * 1e3:.2f}"
                for label, t in times.items()
            )
            print(
                f"{name}, page {page}: ms min / q1 / median {figures};"
                f" B/A {statistics.median(ratios):.2f}",
                flush=True,
            )
    for worker in workers.values():
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait()
    with open("/proc/loadavg") as handle:
        print("load average", " ".join(handle.read().split()[:3]))


if __name__ == "__main__":
    main()
