"""What the ORM costs on the submission's hottest read: the API token with its user,
entity and profile, looked up three ways in-process (CPU per lookup, median of 7
batches), for the steering's question of a submission path without the ORM.

    .venv/bin/python bench/orders/orm_cost.py [--lookups 2000]

Scratch database as in run.py (dropped at the end).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import text

from bench.orders.run import scratch_app
from dinamis.accounts import service as accounts
from dinamis.extensions import db

RAW = """
SELECT t.id, t.last_used_at, u.id, u.email, u.first_name, u.last_name, u.language, u.role,
       u.status, u.entity_id, u.entity_role, e.name, e.status, e.membership_start,
       e.membership_end, e.profile_id, p.code
FROM api_tokens t JOIN users u ON u.id = t.user_id
LEFT JOIN entities e ON e.id = u.entity_id LEFT JOIN profiles p ON p.id = e.profile_id
WHERE t.token_hash = %s AND t.revoked_at IS NULL
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    with scratch_app("orders_orm_cost") as (app, seeded):
        token = seeded.hot[0]
        digest = accounts._digest(token)
        core = text(RAW.replace("%s", ":digest"))

        def orm() -> None:
            user = accounts.user_for_api_token(token)
            assert user is not None and user.entity.profile_id
            db.session.rollback()

        def sqlalchemy_core() -> None:
            row = db.session.execute(core, {"digest": digest}).one()
            assert row[2]
            db.session.rollback()

        def raw_psycopg() -> None:
            connection = db.session.connection().connection.driver_connection
            with connection.cursor() as cursor:
                cursor.execute(RAW, (digest,))
                assert cursor.fetchone()[2]
            db.session.rollback()

        with app.test_request_context():
            results = {}
            for label, lookup in (
                ("ORM (token, user, entity, profile objects)", orm),
                ("SQLAlchemy Core, the same columns as a row", sqlalchemy_core),
                ("psycopg, the same statement", raw_psycopg),
            ):
                for _ in range(200):
                    lookup()
                batches = []
                for _ in range(7):
                    started = time.process_time()
                    for _ in range(args.lookups // 7):
                        lookup()
                    batches.append((time.process_time() - started) / (args.lookups // 7))
                results[label] = statistics.median(batches) * 1000
            for label, ms in results.items():
                print(f"{label}: {ms:.3f} ms CPU a lookup (with its rollback)")


if __name__ == "__main__":
    main()
