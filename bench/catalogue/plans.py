"""The search's plan choice and page time, in-process, old code against new, interleaved.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
        .venv/bin/python bench/catalogue/plans.py [--old path/to/old/search.py] [--repeat 20]

For each query (compare.py's and the shapes of issue 19): the estimate, the plan
`search.choose` takes and the page time of `search.run_page` (STAC's call: rows, no
count), then, with `--old`, the same page through another version of search.py (for
instance `git show main~1:dinamis/catalogue/search.py > /tmp/old.py`), the two
alternating run by run; with `--plans`, each plan forced in turn, to check the choice.
Read-only against the database.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.catalogue.compare import GIRONDE, QUERIES
from dinamis import create_app
from dinamis.catalogue import search
from dinamis.extensions import db

MORE: dict[str, dict[str, Any]] = {
    "island (Saint-Pierre), sorted by cloud cover": {
        "bbox": [-56.5, 46.7, -56.1, 47.15],
        "sortby": "+eo:cloud_cover",
        "limit": 20,
    },
    "island (Réunion), sorted by cloud cover": {
        "bbox": [55.2, -21.4, 55.85, -20.85],
        "sortby": "+eo:cloud_cover",
        "limit": 20,
    },
    "dense city (Paris), two years, by date": {
        "bbox": [2.25, 48.8, 2.42, 48.9],
        "datetime": "2022-01-01T00:00:00Z/2023-12-31T23:59:59Z",
        "limit": 20,
    },
    "point outside the clusters (Creuse)": {
        "intersects": {"type": "Point", "coordinates": [2.05, 46.1]},
        "limit": 20,
    },
    "département polygon, portal count": {"intersects": GIRONDE, "limit": 20, "_count": True},
}


def cases() -> dict[str, dict[str, Any]]:
    found = {name: params for name, (_m, params, _p) in QUERIES.items()}
    return {**found, **MORE}


def _load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("old_search", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_search"] = module
    spec.loader.exec_module(module)
    return module


def _time(module: Any, params: dict[str, Any], **kwargs: Any) -> float:
    count = bool(params.get("_count"))
    query = module.parse({k: v for k, v in params.items() if k != "_count"}, body=True)
    started = time.perf_counter()
    module.run_page(query, count=count, rows=not count, **kwargs)
    took = time.perf_counter() - started
    db.session.rollback()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", help="another version of search.py, timed alternately")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", help="the queries whose name contains this")
    parser.add_argument("--plans", action="store_true", help="time each plan, forced")
    args = parser.parse_args()
    app = create_app(
        {"database_url": os.environ["DATABASE_URL"], "log_level": "WARNING", "log_json": False}
    )
    old = _load(args.old) if args.old else None
    search.SAMPLE_IN_BACKGROUND = False  # the sample read at once, before the first timing
    with app.app_context():
        for name, params in cases().items():
            if args.only and args.only.lower() not in name.lower():
                continue
            plain = {k: v for k, v in params.items() if k != "_count"}
            query = search.parse(plain, body=True)
            guess = search.estimate(query)
            assert guess is not None
            page = search.run_page(query, count=bool(params.get("_count")), rows=True)
            db.session.rollback()
            runs: dict[str, list[float]] = {"new": []}
            if old is not None:
                runs["old"] = []
            # (not the area first over a large area: seconds a run, known to lose)
            if args.plans and search._walkable(query) and guess.candidates < 15_000:
                runs[search.WALK] = []
                runs[search.AREA] = []
            for i in range(args.repeat):
                labels = list(runs) if i % 2 == 0 else list(reversed(runs))
                for label in labels:
                    if label == "new":
                        runs[label].append(_time(search, params))
                    elif label == "old":
                        runs[label].append(_time(old, params))
                    else:
                        runs[label].append(_time(search, params, plan=label))
            figures = ", ".join(
                f"{label} {min(t) * 1e3:.2f}/{statistics.median(t) * 1e3:.2f}"
                for label, t in runs.items()
            )
            ratio = ""
            if old is not None:
                share = statistics.median(runs["new"]) / statistics.median(runs["old"])
                ratio = f" new/old {share:.2f}"
            print(
                f"{name}: plan {page.plan} (candidates {guess.candidates:,.0f}, domain"
                f" {guess.domain:,.0f}, matched {guess.matched:,.0f}; numberMatched"
                f" {page.matched}, about {page.about}); ms min/median {figures}{ratio}",
                flush=True,
            )
    with open("/proc/loadavg") as handle:
        print("load average", " ".join(handle.read().split()[:3]))


if __name__ == "__main__":
    main()
