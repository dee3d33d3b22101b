"""Catalogue search benchmark: generate scenes, time the searches, show the plans.

    .venv/bin/python bench/catalogue/run.py [--scenes 100000]

Creates a scratch database (dropped at the end) on the server of DATABASE_URL
(default: the development server), migrates it, loads deterministic scenes
over France with the real ingest path, then times the searches the portal and
the STAC API run, and prints their EXPLAIN ANALYZE plans.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from alembic import command
from sqlalchemy import text

from dinamis import create_app
from dinamis.catalogue import search
from dinamis.catalogue.ingest import ingest
from dinamis.core.migrate import alembic_config
from dinamis.core.transaction import commit
from dinamis.extensions import db
from tests.conftest import create_database, drop_database, unique_db_name

COLLECTIONS = ["spot67-ortho-france", "pleiades-archive", "pleiades-neo"]


def generate(path: Path, count: int) -> None:
    """Deterministic NDJSON: three collections and `count` scenes over France."""
    rng = random.Random(42)
    with path.open("w") as out:
        for cid in COLLECTIONS:
            out.write(
                json.dumps(
                    {
                        "type": "Collection",
                        "id": cid,
                        "title": cid,
                        "license": "x",
                        "dinamis": {"access": "members", "sensor_family": cid.split("-")[0]},
                    }
                )
                + "\n"
            )
        for n in range(count):
            lon, lat = rng.uniform(-4.5, 7.5), rng.uniform(42.5, 50.5)
            size = 0.5 if n % 3 == 0 else 0.15
            day = rng.randint(0, 4300)
            year, doy = 2015 + day // 366, day % 366
            month, dom = 1 + doy // 31 % 12, 1 + doy % 28
            out.write(
                json.dumps(
                    {
                        "type": "Feature",
                        "id": f"S{n:08d}",
                        "collection": COLLECTIONS[n % 3],
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [
                                [
                                    [lon, lat],
                                    [lon + size, lat],
                                    [lon + size, lat + size],
                                    [lon, lat + size],
                                    [lon, lat],
                                ]
                            ],
                        },
                        "properties": {
                            "datetime": f"{year}-{month:02d}-{dom:02d}T10:30:00Z",
                            "eo:cloud_cover": round(rng.uniform(0, 80), 1),
                            "view:incidence_angle": round(rng.uniform(0, 30), 1),
                        },
                    }
                )
                + "\n"
            )


QUERIES = {
    "newest page, no filter": {"limit": 20},
    "bbox (a French department)": {"bbox": "1.0,45.0,2.0,46.0", "limit": 20},
    "bbox + dates + collection + cloud": {
        "bbox": "-2,47,0,48.5",
        "datetime": "2020-01-01T00:00:00Z/2023-12-31T23:59:59Z",
        "collections": "pleiades-archive",
        "max_cloud": "20",
        "limit": 20,
    },
    "intersects (polygon)": {
        "intersects": {"type": "Polygon", "coordinates": [[[4, 44], [5, 44], [4.5, 45], [4, 44]]]},
        "limit": 50,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    name = unique_db_name("bench")
    url = create_database(name)
    try:
        config = alembic_config(url)
        config.attributes["configure_logging"] = False
        command.upgrade(config, "heads")
        app = create_app({"database_url": url, "log_level": "WARNING", "log_json": False})
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "scenes.ndjson"
            generate(data, args.scenes)
            with app.app_context():
                started = time.perf_counter()
                report = ingest([data])
                commit()
                took = time.perf_counter() - started
                db.session.execute(text("ANALYZE scenes"))
                commit()
        print(
            f"ingest: {report.items} scenes in {took:.1f} s ({report.items / took:,.0f} scenes/s), "
            f"{len(report.errors)} refused"
        )
        with app.app_context():
            for label, params in QUERIES.items():
                query = search.parse(params)
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    _scenes, matched, _token = search.run(query)
                    times.append((time.perf_counter() - t0) * 1000)
                    db.session.rollback()
                times.sort()
                p95 = times[int(len(times) * 0.95) - 1]
                print(
                    f"{label}: {matched} matched, "
                    f"p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms"
                )
            plan = (
                db.session.execute(
                    text(
                        "EXPLAIN ANALYZE SELECT id FROM scenes WHERE ST_Intersects(footprint, "
                        "ST_MakeEnvelope(1, 45, 2, 46, 4326)) "
                        "ORDER BY datetime DESC, id DESC LIMIT 21"
                    )
                )
                .scalars()
                .all()
            )
            print("\nplan (bbox search):\n  " + "\n  ".join(plan))
    finally:
        from dinamis.extensions import db as database

        if database.engine is not None:
            database.engine.dispose()
        drop_database(name)


if __name__ == "__main__":
    main()
