"""CPU per STAC search request, in-process (Flask's test client): compare.py's queries,
the first page and the next ones as the benchmark walks them.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
        .venv/bin/python bench/catalogue/request_cpu.py --repeat 100

Against a database already loaded (by compare.py --keep, or `dinamis catalogue
ingest`). CPU time (time.process_time) is the figure to compare before and after
a change on a shared machine; wall time is printed with the load average.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--only", help="the queries whose name contains this")
    parser.add_argument(
        "--control",
        action="store_true",
        help="also time each next page asked as a first page over the same rows",
    )
    args = parser.parse_args()
    app = create_app(
        {
            "database_url": os.environ["DATABASE_URL"],
            "log_level": "WARNING",
            "log_json": False,
            "base_url": "http://bench.test",
        }
    )
    client = app.test_client()
    statements = [0]
    with app.app_context():
        engine = db.engine
    event.listen(
        engine, "before_cursor_execute", lambda *_a: statements.__setitem__(0, statements[0] + 1)
    )
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
            cpu, wall = _time(client, method, request, args.repeat)
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
