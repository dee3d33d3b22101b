"""Saved searches at scale: what 10,000 saved searches add to an ingest, and the digest.

    python -m bench.alerts.run --scenes 200000 --searches 10000 [--pairs 1]

In a scratch database (`bench_alerts`, dropped first), migrated to head:
1. the catalogue bench's generated scenes (`bench/catalogue/generate.py`, same seed)
   are ingested with no saved search (the trigger finds none active and writes nothing);
2. the scenes are removed, 10,000 saved searches are written (100 members in four
   entities of the four profiles, areas of 0.1 to 0.5 degrees centred where the
   generator puts scenes, a quarter with a cloud limit, a tenth stereo only, all
   daily digests), and the same scenes are ingested again: the trigger writes one
   batch of ids per statement;
3. `match_new_scenes` runs until no batch is left (the `match_alerts` task's work,
   outside the ingest's transaction), then `prepare("daily")` writes the digests
   (one message per saved search with news, in the outbox) in one transaction.
With `--pairs N`, steps 1 and 2 alternate N times (a shared machine is noisy); step 3
runs once, after the last ingest.

At 1,000,000 scenes one ingest takes 10-40 minutes on the shared machine: each ingest
then runs as its own process (a job's time limit each), in a database kept between them:

    python -m bench.alerts.run --items /tmp/dinamis-bench/1000000-42 --only without
    python -m bench.alerts.run --items /tmp/dinamis-bench/1000000-42 --only with

(`--items`: a directory the catalogue bench already generated, read only); each run
appends its time and the load average to `results/alerts-<scenes>-ingest-runs.json`.
Each ingest commits once, as `dinamis catalogue ingest` does; times are wall clock.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
from pathlib import Path

import psycopg
from psycopg import sql
from shapely.geometry import box

from bench.catalogue import generate

SERVER = "postgresql://postgres@127.0.0.1:5432"
NAME = "bench_alerts"
PROFILES = ("research-fr", "public-fr", "private-fr", "international")


def scratch(name: str) -> str:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(f"{SERVER}/{name}", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def app_for(url: str):
    from alembic import command

    from dinamis import create_app
    from dinamis.core.migrate import alembic_config

    command.upgrade(alembic_config(url), "head")
    return create_app(
        {
            "env": "test",
            "database_url": url,
            "log_json": False,
            "log_level": "WARNING",
            "secret_key": "bench-" + "x" * 40,
        }
    )


def ingest(paths: list[Path]) -> float:
    from dinamis.catalogue.ingest import ingest as load
    from dinamis.core.transaction import commit

    started = time.perf_counter()
    report = load(paths)
    commit()
    assert not report.errors, report.errors[:3]
    return time.perf_counter() - started


def clear_scenes() -> None:
    from dinamis.core.transaction import commit
    from dinamis.extensions import db

    db.session.execute(sql_text("TRUNCATE alert_matches, alert_notices, alert_scene_batches"))
    # TRUNCATE: a DELETE of 1,000,000 rows takes minutes (a scratch database: nothing refers
    # to the scenes).
    db.session.execute(sql_text("TRUNCATE scenes CASCADE"))
    commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE) scenes")


def sql_text(statement: str):
    from sqlalchemy import text

    return text(statement)


def members() -> list[int]:
    from dinamis.core.transaction import commit
    from tests.factories import make_entity, make_user

    ids = []
    for index, profile in enumerate(PROFILES):
        entity = make_entity(f"Bench entity {index}", profile_code=profile)
        for n in range(25):
            user = make_user(
                f"bench.{index}.{n}@bench-{index}.test",
                entity=entity,
                password=None,
                language="fr" if n % 2 else "en",
            )
            ids.append(user.id)
    commit()
    return ids


def save_searches(users: list[int], count: int, seed: int = 7) -> None:
    """`count` saved searches, written as rows (the bench measures matching, not the form)."""
    from geoalchemy2.shape import from_shape

    from dinamis.alerts.models import SavedSearch
    from dinamis.core.transaction import commit
    from dinamis.extensions import db

    rng = random.Random(seed)
    rows = []
    for index in range(count):
        lon, lat = generate._where(rng)
        half = rng.uniform(0.05, 0.25)
        rows.append(
            SavedSearch(
                user_id=users[index % len(users)],
                name=f"Search {index}",
                area=from_shape(
                    box(
                        max(lon - half, -180),
                        max(lat - half, -90),
                        min(lon + half, 180),
                        min(lat + half, 90),
                    ),
                    srid=4326,
                ),
                date_from=dt.date(2000, 1, 1),
                max_cloud=rng.choice([None, None, None, 30]),
                stereo_only=rng.random() < 0.1,
                frequency="daily",
                channel="email",
                active=True,
            )
        )
    db.session.add_all(rows)
    commit()
    # As autovacuum would after such a load: the planner then knows the table's size.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE saved_searches")


def match_all() -> tuple[float, int]:
    """Match every waiting batch, one committed `match_new_scenes` at a time (the task's work)."""
    from dinamis.alerts import service
    from dinamis.core.transaction import commit

    started, matched = time.perf_counter(), 0
    while service.waiting_batches():
        matched += service.match_new_scenes(batches=1)
        commit()
    return time.perf_counter() - started, matched


def digest() -> tuple[float, int]:
    from dinamis.alerts import service
    from dinamis.core.transaction import commit

    started = time.perf_counter()
    notices = service.prepare("daily")
    commit()
    return time.perf_counter() - started, notices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=1_000_000)
    parser.add_argument("--searches", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=1)
    parser.add_argument(
        "--ingest-only", action="store_true", help="Measure the ingests; no matching, no digest."
    )
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench-alerts"))  # noqa: S108 (scratch data)
    parser.add_argument(
        "--items", type=Path, help="A directory of generated scenes to read (not written)."
    )
    parser.add_argument(
        "--only",
        choices=("without", "with"),
        help="One ingest, in the kept database `bench_alerts_<scenes>` (made when missing).",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/alerts/results"))
    args = parser.parse_args()
    data = args.items or args.data / str(args.scenes)
    if args.items is None and not (data / "items.ndjson").exists():
        generate.write(data, args.scenes)
    paths = [data / "collections.ndjson", data / "items.ndjson"]
    if args.only:
        one_ingest(args, paths)
        return
    app = app_for(scratch(NAME + ("_ingest" if args.ingest_only else "")))
    result: dict[str, object] = {"scenes": args.scenes, "searches": args.searches, "runs": []}
    with app.app_context():
        from dinamis.extensions import db

        users = members()
        runs: list[dict[str, float]] = []
        for pair in range(args.pairs):
            db.session.execute(sql_text("DELETE FROM saved_searches"))
            db.session.commit()
            clear_scenes()
            without = ingest(paths)
            print(f"pair {pair}: ingest without saved searches {without:.1f} s", flush=True)
            clear_scenes()
            save_searches(users, args.searches)
            with_searches = ingest(paths)
            print(
                f"pair {pair}: ingest with {args.searches} saved searches {with_searches:.1f} s",
                flush=True,
            )
            runs.append(
                {
                    "ingest_without_s": round(without, 1),
                    "ingest_with_s": round(with_searches, 1),
                    "ratio": round(with_searches / without, 3),
                }
            )
        result["runs"] = runs
        result["ratio_of_sums"] = round(
            sum(r["ingest_with_s"] for r in runs) / sum(r["ingest_without_s"] for r in runs), 3
        )
        if args.ingest_only:
            finish(args, result)
            return
        # After the last ingest with saved searches: the task's work, then the digest.
        batches = db.session.scalar(sql_text("SELECT count(*) FROM alert_scene_batches"))
        matching, matched = match_all()
        print(f"matching {batches} batches: {matching:.1f} s, {matched} matches", flush=True)
        prepared, notices = digest()
        print(f"digest of {notices} saved searches prepared in {prepared:.1f} s", flush=True)
        result.update(
            batches=batches,
            matching_s=round(matching, 1),
            matches=matched,
            digest_s=round(prepared, 1),
            digests=notices,
        )
    finish(args, result)


def one_ingest(args: argparse.Namespace, paths: list[Path]) -> None:
    """One ingest of a pair (`--only`), in a database kept for the next: timed with the
    load average before and after, appended to the runs' file."""
    import os

    from dinamis.core.transaction import commit
    from dinamis.extensions import db

    name = f"{NAME}_{args.scenes}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}" if exists else scratch(name)
    app = app_for(url)
    with app.app_context():
        if not exists:
            members()
        users = list(db.session.scalars(sql_text("SELECT id FROM users ORDER BY id")))
        db.session.execute(sql_text("DELETE FROM saved_searches"))
        commit()
        clear_scenes()
        if args.only == "with":
            save_searches(users, args.searches)
        load_before = os.getloadavg()
        seconds = ingest(paths)
        load_after = os.getloadavg()
        scenes = db.session.scalar(sql_text("SELECT count(*) FROM scenes"))
        batches = db.session.scalar(sql_text("SELECT count(*) FROM alert_scene_batches"))
    run = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "saved_searches": args.searches if args.only == "with" else 0,
        "scenes": scenes,
        "batches": batches,
        "seconds": round(seconds, 1),
        "load_before": [round(x, 1) for x in load_before],
        "load_after": [round(x, 1) for x in load_after],
    }
    print(json.dumps(run), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"alerts-{args.scenes}-ingest-runs.json"
    runs = json.loads(target.read_text()) if target.exists() else []
    target.write_text(json.dumps([*runs, run], indent=2) + "\n")


def finish(args: argparse.Namespace, result: dict[str, object]) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"alerts-{args.scenes}{'-ingest' if args.ingest_only else ''}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
