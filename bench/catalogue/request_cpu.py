"""CPU per STAC search request, in-process (Flask's test client): compare.py's queries,
the first page and the next ones as the benchmark walks them.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
        .venv/bin/python bench/catalogue/request_cpu.py --repeat 100

Against a database already loaded (by compare.py --keep, or `dinamis catalogue
ingest`). CPU time (time.process_time) is the figure to compare before and after
a change on a shared machine; wall time is printed with the load average.

    ... request_cpu.py --code /tmp/dinamis-bench/code-2c786ff --only Paris --explain

`--code` serves an earlier revision's copy (bench/revisions.py, as compare.py
--before extracts it) instead of this tree; `--explain` prints, for each page, the
statements the request ran with PostgreSQL's planning and execution times and the
rows each plan node read (EXPLAIN (ANALYZE, BUFFERS) of the same SQL and values).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.catalogue.compare import QUERIES

if "--code" in sys.argv:  # an earlier revision's package, imported instead of this tree's
    sys.path.insert(0, sys.argv[sys.argv.index("--code") + 1])

from dinamis import create_app
from dinamis.extensions import db


def _get(client: Any, method: str, request: Any) -> Any:
    """A search as the benchmark sends it: parameters (GET) or body (POST), or a next link."""
    if isinstance(request, str):  # a GET `next` link
        return client.get(request)
    if method == "GET":
        query = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in request.items()}
        return client.get("/stac/search", query_string=query)
    return client.post("/stac/search", json=request)


def _next(page: Any) -> Any:
    """The next page's request: its href (GET) or its body (POST), or None."""
    for link in page.get_json()["links"]:
        if link["rel"] == "next":
            return link.get("body") or link["href"].replace("http://bench.test", "")
    return None


def _token(request: Any) -> str:
    if isinstance(request, str):
        return urllib.parse.parse_qs(urllib.parse.urlsplit(request).query)["token"][0]
    return str(request["token"])


def _as_first_page(body: dict[str, Any], request: Any) -> dict[str, Any] | None:
    """The `next` page `request` asked as a first page over the same rows: the same
    search with its dates ending where that page starts (the default sort only)."""
    if "sortby" in body:
        return None
    token = _token(request)
    start = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["v"][0]
    begin = str(body.get("datetime", "..")).partition("/")[0] or ".."
    return {**body, "datetime": f"{begin}/{start.replace('+00:00', 'Z')}"}


def _time(client: Any, method: str, request: Any, repeat: int) -> tuple[list[float], list[float]]:
    cpu, wall = [], []
    for _ in range(repeat):
        started_cpu, started = time.process_time(), time.perf_counter()
        _get(client, method, request)
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return cpu, wall


def _explain(engine: Any, ran: list[tuple[str, Any]]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements a request ran, summed up: planning and
    execution time, then each node that read rows (its rows, loops and time)."""
    lines = []
    with engine.connect() as connection:
        for statement, parameters in ran:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            plan = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
            ).scalar_one()[0]
            nodes = []
            pending = [plan["Plan"]]
            while pending:
                node = pending.pop(0)
                if "Index" in node["Node Type"] or "Scan" in node["Node Type"]:
                    name = node.get("Index Name", node.get("Relation Name", ""))
                    nodes.append(
                        f"{node['Node Type']} {name}"
                        f" rows {node['Actual Rows']} x{node['Actual Loops']}"
                        f" {node['Actual Total Time']:.2f} ms"
                    )
                pending.extend(node.get("Plans", []))
            lines.append(
                f"plan {plan['Planning Time']:.2f} ms, run {plan['Execution Time']:.2f} ms,"
                f" buffers {plan['Plan'].get('Shared Hit Blocks', 0)}"
                f"+{plan['Plan'].get('Shared Read Blocks', 0)}: " + "; ".join(nodes)
            )
        connection.rollback()
    return lines


def bench_app() -> Any:
    """The app of the `dinamis` first on the path, on `DATABASE_URL`, quiet, with the base
    address every catalogue bench's answers are compared under."""
    return create_app(
        {
            "database_url": os.environ["DATABASE_URL"],
            "log_level": "WARNING",
            "log_json": False,
            "base_url": "http://bench.test",
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--only", help="the queries whose name contains this")
    parser.add_argument("--code", help="an earlier revision's copy to serve (bench/revisions.py)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN each page's statements")
    parser.add_argument(
        "--control",
        action="store_true",
        help="also time each next page asked as a first page over the same rows",
    )
    args = parser.parse_args()
    app = bench_app()
    client = app.test_client()
    statements = [0]
    ran: list[tuple[str, Any]] = []
    with app.app_context():
        engine = db.engine

    def executed(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_a: Any) -> None:
        statements[0] += 1
        ran.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", executed)
    print("code:", sys.modules["dinamis"].__file__)
    for name, (method, body, pages) in QUERIES.items():
        if args.only and args.only.lower() not in name.lower():
            continue
        first = _get(client, method, body)
        assert first.status_code == 200, first.data
        following = [_next(first)]
        while len(following) < pages - 1 and following[-1] is not None:
            following.append(_next(_get(client, method, following[-1])))
        statements[0] = 0
        _get(client, method, body)
        line = [f"{name}: {statements[0]} statements"]
        for label, request in [("first", body)] + [
            (f"page {n}", r) for n, r in enumerate(following, 2) if r is not None
        ]:
            ran.clear()
            cpu, wall = _time(client, method, request, args.repeat)
            if args.explain:
                last = ran[-(len(ran) // args.repeat) :]  # the statements of the last request
                line += [f"  {label}: {text}" for text in _explain(engine, last)]
            line.append(
                f"{label} CPU min {min(cpu) * 1e3:.2f}"
                f" / median {statistics.median(cpu) * 1e3:.2f} ms"
                f" (wall median {statistics.median(wall) * 1e3:.2f} ms)"
            )
            control = _as_first_page(body, request) if args.control and label != "first" else None
            if control is not None:
                cpu, wall = _time(client, method, control, args.repeat)
                line[-1] += (
                    f", as a first page over the same rows CPU median"
                    f" {statistics.median(cpu) * 1e3:.2f} ms"
                    f" (wall median {statistics.median(wall) * 1e3:.2f} ms)"
                )
        print(";\n    ".join(line))
    with open("/proc/loadavg") as handle:
        print("load average", " ".join(handle.read().split()[:3]))


if __name__ == "__main__":
    main()
