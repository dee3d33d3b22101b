"""Profile one tasking submission in-process (Flask test client, cProfile).

    .venv/bin/python bench/orders/profile_submit.py [--requests 200] [--sort tottime]

Scratch database as in run.py (dropped at the end); one entity, one token.
Prints the mean wall time of a submission and the top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from alembic import command

from bench.orders.run import SECRET, seed, tasking_body
from dinamis import create_app
from dinamis.core.migrate import alembic_config
from tests.conftest import create_database, drop_database, unique_db_name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--path", default="/api/v1/tasking-requests")
    parser.add_argument("--sql", action="store_true", help="print the SQL of one submission")
    parser.add_argument("--cpu", action="store_true", help="profile CPU time, not wall time")
    args = parser.parse_args()
    name = unique_db_name("orders_profile")
    url = create_database(name)
    try:
        config = alembic_config(url)
        config.attributes["configure_logging"] = False
        command.upgrade(config, "heads")
        seeded = seed(url, 1, 1, Decimal("1000"))
        app = create_app(
            {
                "database_url": url,
                "log_level": "WARNING",
                "log_json": False,
                "secret_key": SECRET,
                "ratelimit_enabled": False,
            }
        )
        client = app.test_client()
        headers = {"Authorization": f"Bearer {seeded.hot[0]}"}
        for n in range(20):  # warm-up
            assert client.post(args.path, json=tasking_body(n), headers=headers).status_code == 201
        if args.sql:
            from sqlalchemy import event

            from dinamis.extensions import db

            statements: list[str] = []

            def log(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
                statements.append(" ".join(statement.split())[:160])

            event.listen(db.engine, "before_cursor_execute", log)
            client.post(args.path, json=tasking_body(999), headers=headers)
            event.remove(db.engine, "before_cursor_execute", log)
            print(f"{len(statements)} statements in one submission:")
            for n, statement in enumerate(statements, 1):
                print(f"{n:3} {statement}")
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(args.requests):
            client.post(args.path, json=tasking_body(n), headers=headers)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"{args.requests} submissions unprofiled: {wall / args.requests * 1000:.2f} ms wall, "
            f"{cpu / args.requests * 1000:.2f} ms CPU of this process each"
        )
        profile = cProfile.Profile(time.process_time if args.cpu else time.perf_counter)
        started = time.perf_counter()
        profile.enable()
        for n in range(args.requests):
            response = client.post(args.path, json=tasking_body(n), headers=headers)
            assert response.status_code == 201, response.text
        profile.disable()
        took = time.perf_counter() - started
        calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
        print(
            f"{args.requests} submissions, {took / args.requests * 1000:.2f} ms each (profiled), "
            f"{calls / args.requests:,.0f} Python function calls each"
        )
        profile.dump_stats(str(Path(tempfile.gettempdir()) / "orders-submit.prof"))
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
    finally:
        from dinamis.extensions import db

        if db.engine is not None:
            db.engine.dispose()
        drop_database(name)


if __name__ == "__main__":
    main()
