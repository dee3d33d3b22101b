"""The daily digest again, on the matches a `bench.alerts.run` database holds.

    python -m bench.alerts.digest [--database bench_alerts] [--rounds 2]

Each round forgets the notices and messages written (the matches untold again),
then times `prepare("daily")` and its commit, as the `alert_digests` task runs it.
"""

from __future__ import annotations

import argparse
import json
import time

from sqlalchemy import text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="bench_alerts")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from dinamis import create_app
    from dinamis.alerts import service
    from dinamis.core.transaction import commit
    from dinamis.extensions import db

    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.database}"
    app = create_app(
        {"env": "test", "database_url": url, "log_json": False, "log_level": "WARNING"}
        | {"secret_key": "bench-" + "x" * 40}
    )
    runs = []
    with app.app_context():
        for _round in range(args.rounds):
            db.session.execute(text("UPDATE alert_matches SET notice_id = NULL"))
            db.session.execute(text("DELETE FROM alert_notices"))
            db.session.execute(text("DELETE FROM outbox_messages WHERE template = 'alert_scenes'"))
            commit()
            started = time.perf_counter()
            notices = service.prepare("daily")
            commit()
            runs.append({"digests": notices, "seconds": round(time.perf_counter() - started, 1)})
            print(runs[-1], flush=True)
        matches = db.session.scalar(text("SELECT count(*) FROM alert_matches"))
    print(json.dumps({"matches": matches, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
