"""The trigger's own cost: one ingest statement (20,000 scenes, the ingest's batch) timed
with the trigger off, on with no active saved search, and on with 10,000.

    python -m bench.alerts.trigger [--database bench_alerts_ingest] [--rounds 5]

Reads a database that `bench.alerts.run --ingest-only` left (scenes and saved searches);
each round deletes 20,000 scenes and inserts them again, in each mode in turn, and rolls
back nothing: the rows are the same before and after.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import psycopg

COLUMNS = (
    "id, collection_id, platform, constellation, datetime, footprint, cloud_cover,"
    " incidence_angle, sun_elevation, sun_azimuth, gsd, processing_level, spectral_mode,"
    " stereo_group, quicklook, properties, assets, stac_extensions, updated_at"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="bench_alerts_ingest")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"off": [], "no_active_search": [], "10000_searches": []}
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{args.database}") as conn:
        conn.execute("SET jit = off")
        conn.execute(
            f"CREATE TEMP TABLE sample AS SELECT {COLUMNS} FROM scenes ORDER BY id LIMIT 20000"  # noqa: S608
        )
        active = conn.execute("SELECT count(*) FROM saved_searches WHERE active").fetchone()
        conn.commit()
        for _round in range(args.rounds):
            for mode in times:
                conn.execute(
                    "ALTER TABLE scenes "
                    + ("DISABLE" if mode == "off" else "ENABLE")
                    + " TRIGGER scenes_alert_batch"
                )
                conn.execute("UPDATE saved_searches SET active = %s", (mode == "10000_searches",))
                conn.execute("DELETE FROM scenes WHERE id IN (SELECT id FROM sample)")
                conn.commit()
                started = time.perf_counter()
                conn.execute(f"INSERT INTO scenes ({COLUMNS}) SELECT {COLUMNS} FROM sample")  # noqa: S608
                conn.commit()
                times[mode].append(time.perf_counter() - started)
                conn.execute("TRUNCATE alert_scene_batches")
                conn.commit()
        conn.execute("ALTER TABLE scenes ENABLE TRIGGER scenes_alert_batch")
        conn.execute("UPDATE saved_searches SET active = true")
        conn.commit()
    result = {
        "scenes_per_statement": 20000,
        "saved_searches": active[0] if active else 0,
        "median_s": {mode: round(statistics.median(t), 3) for mode, t in times.items()},
        "runs_s": {mode: [round(x, 3) for x in t] for mode, t in times.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
