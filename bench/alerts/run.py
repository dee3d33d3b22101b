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
With `--pairs N`, steps 1 and 2 alternate N times (a shared machine is noisy).
Each ingest commits once, as `dinamis catalogue ingest` does; times are wall clock.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql
from shapely.geometry import box

from bench.catalogue import generate

SERVER = "postgresql://postgres@127.0.0.1:5432"
NAME = "bench_alerts"
PROFILES = ("research-fr", "public-fr", "private-fr", "international")


def scratch() -> str:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(NAME))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(NAME)))
    with psycopg.connect(f"{SERVER}/{NAME}", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{NAME}"


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
    db.session.execute(sql_text("DELETE FROM scenes"))
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


def match_all() -> tuple[float, int]:
    from dinamis.alerts import service
    from dinamis.core.transaction import commit

    started, matched = time.perf_counter(), 0
    while service.waiting_batches():
        matched += service.match_new_scenes()
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
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench-alerts"))  # noqa: S108 (scratch data)
    parser.add_argument("--out", type=Path, default=Path("bench/alerts/results"))
    args = parser.parse_args()
    data = args.data / str(args.scenes)
    if not (data / "items.ndjson").exists():
        generate.write(data, args.scenes)
    paths = [data / "collections.ndjson", data / "items.ndjson"]
    app = app_for(scratch())
    result: dict[str, object] = {"scenes": args.scenes, "searches": args.searches, "runs": []}
    with app.app_context():
        from dinamis.extensions import db

        users = members()
        for pair in range(args.pairs):
            db.session.execute(sql_text("DELETE FROM saved_searches"))
            db.session.commit()
            clear_scenes()
            without = ingest(paths)
            print(f"pair {pair}: ingest without saved searches {without:.1f} s", flush=True)
            clear_scenes()
            save_searches(users, args.searches)
            with_searches = ingest(paths)
            batches = db.session.scalar(sql_text("SELECT count(*) FROM alert_scene_batches"))
            print(
                f"pair {pair}: ingest with {args.searches} saved searches {with_searches:.1f} s"
                f" ({batches} batches)",
                flush=True,
            )
            matching, matched = match_all()
            print(f"pair {pair}: matching {matching:.1f} s, {matched} matches", flush=True)
            prepared, notices = digest()
            print(
                f"pair {pair}: digest of {notices} saved searches prepared in {prepared:.1f} s",
                flush=True,
            )
            result["runs"].append(  # type: ignore[union-attr]
                {
                    "ingest_without_s": round(without, 1),
                    "ingest_with_s": round(with_searches, 1),
                    "ratio": round(with_searches / without, 3),
                    "matching_s": round(matching, 1),
                    "matches": matched,
                    "digest_s": round(prepared, 1),
                    "digests": notices,
                }
            )
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"alerts-{args.scenes}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
