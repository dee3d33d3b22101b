"""The portal's catalogue page for a département-sized area: the page (search, count or
estimate, the map's footprints) and its "coverage of your area", in-process.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
        .venv/bin/python bench/catalogue/portal.py [--repeat 40]

Flask's test client (no HTTP server): p50 and p95 of the whole page, and of the
coverage alone (`coverage.for_search`). Read-only against the database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.catalogue.compare import GIRONDE
from dinamis import create_app
from dinamis.catalogue import coverage, search
from dinamis.extensions import db

# The portal's form fields (aoi as GeoJSON, dates as days).
FORMS = {
    "Gironde": {"aoi": json.dumps(GIRONDE)},
    "Gironde, 2020-2024": {"aoi": json.dumps(GIRONDE), "start": "2020-01-01", "end": "2024-12-31"},
    "Gironde, cloud ≤ 10": {"aoi": json.dumps(GIRONDE), "max_cloud": "10"},
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    app = create_app(
        {"database_url": os.environ["DATABASE_URL"], "log_level": "WARNING", "log_json": False}
    )
    search.SAMPLE_IN_BACKGROUND = False
    client = app.test_client()
    for name, form in FORMS.items():
        page = client.get("/catalogue/", query_string=form, headers={"Accept-Language": "en"})
        assert page.status_code == 200, page.status_code
        text = page.get_data(as_text=True)
        said = [line for line in text.splitlines() if "match" in line or "covers" in line]
        pages, covers = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            client.get("/catalogue/", query_string=form)
            pages.append(time.perf_counter() - started)
            with app.test_request_context():
                params = {"intersects": form["aoi"], "limit": 20}
                if "start" in form:
                    params["datetime"] = f"{form['start']}T00:00:00Z/{form['end']}T23:59:59Z"
                if "max_cloud" in form:
                    params["max_cloud"] = form["max_cloud"]
                query = search.parse(params)
                started = time.perf_counter()
                coverage.for_search(query, None)
                covers.append(time.perf_counter() - started)
                db.session.rollback()
        print(
            f"{name}: page p50 {statistics.median(pages) * 1e3:.0f} ms,"
            f" p95 {percentile(pages, 0.95) * 1e3:.0f} ms; coverage p50"
            f" {statistics.median(covers) * 1e3:.0f} ms,"
            f" p95 {percentile(covers, 0.95) * 1e3:.0f} ms",
            flush=True,
        )
        for line in said:
            print("   ", " ".join(line.split())[:200])
    with open("/proc/loadavg") as handle:
        print("load average", " ".join(handle.read().split()[:3]))


if __name__ == "__main__":
    main()
