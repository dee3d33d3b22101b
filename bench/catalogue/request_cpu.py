"""CPU per STAC search request, in-process (Flask's test client), first and next pages.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
        .venv/bin/python bench/catalogue/request_cpu.py --repeat 100

Against a database already loaded (by compare.py --keep, or `dinamis catalogue
ingest`). CPU time (time.process_time) is the figure to compare before and after
a change on a shared machine; wall time is printed with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from sqlalchemy import event

from dinamis import create_app
from dinamis.extensions import db

FRANCE = [-5.2, 41.3, 9.6, 51.1]
YEAR_2023 = "2023-01-01T00:00:00Z/2023-12-31T23:59:59Z"
QUERIES: dict[str, dict[str, Any]] = {
    "no filter": {"limit": 20},
    "France bbox + one year": {"bbox": FRANCE, "datetime": YEAR_2023, "limit": 20},
    "Africa box + cloud <= 20 (CQL2)": {
        "bbox": [-20.0, -35.0, 52.0, 38.0],
        "filter": {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 20]},
        "filter-lang": "cql2-json",
        "limit": 20,
    },
    "one collection, one year": {
        "collections": ["pleiades-neo"],
        "datetime": "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z",
        "limit": 20,
    },
    "France bbox, 100 a page": {"bbox": FRANCE, "limit": 100},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=100)
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
    for name, body in QUERIES.items():
        first = client.post("/stac/search", json=body)
        assert first.status_code == 200, first.data
        following = [x for x in first.get_json()["links"] if x["rel"] == "next"]
        statements[0] = 0
        client.post("/stac/search", json=body)
        line = [f"{name}: {statements[0]} statements"]
        for label, request in (
            ("first", body),
            ("next", following[0]["body"] if following else None),
        ):
            if request is None:
                continue
            cpu, wall = [], []
            for _ in range(args.repeat):
                started_cpu, started = time.process_time(), time.perf_counter()
                client.post("/stac/search", json=request)
                cpu.append(time.process_time() - started_cpu)
                wall.append(time.perf_counter() - started)
            line.append(
                f"{label} CPU min {min(cpu) * 1e3:.2f}"
                f" / median {statistics.median(cpu) * 1e3:.2f} ms"
                f" (wall median {statistics.median(wall) * 1e3:.2f} ms)"
            )
        print("; ".join(line))
    with open("/proc/loadavg") as handle:
        print("load average", " ".join(handle.read().split()[:3]))


if __name__ == "__main__":
    main()
