"""The daily digest again, on the matches a `bench.alerts.run` database holds.

    python -m bench.alerts.digest [--database bench_alerts] [--rounds 2]

Each round times `prepare("daily")` and its flush in one transaction, then rolls it
back: the matches stay untold for the next round, and the script runs the same with
the code before issue 20's digest work (its schema marked matches one by one) and
after, each on its own copy of the database (`compare_digest.sh` alternates them).
Printed per round: wall time, the Python process's CPU time, the database backend's
CPU time (read from /proc: the server runs on this machine) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from sqlalchemy import text


def backend_cpu(pid: int) -> float:
    """User + system CPU seconds of a server process on this machine."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="bench_alerts")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    from dinamis import create_app
    from dinamis.alerts import service
    from dinamis.extensions import db

    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.database}"
    app = create_app(
        {"env": "test", "database_url": url, "log_json": False, "log_level": "WARNING"}
        | {"secret_key": "bench-" + "x" * 40}
    )
    with app.app_context():
        for _round in range(args.rounds):
            pid = db.session.scalar(text("SELECT pg_backend_pid()"))
            load = os.getloadavg()
            backend, cpu, started = backend_cpu(pid), time.process_time(), time.perf_counter()
            notices = service.prepare("daily")
            db.session.flush()
            run = {
                "label": args.label,
                "digests": notices,
                "wall_s": round(time.perf_counter() - started, 1),
                "python_cpu_s": round(time.process_time() - cpu, 1),
                "backend_cpu_s": round(backend_cpu(pid) - backend, 1),
                "load": [round(x, 1) for x in load],
            }
            db.session.rollback()
            print(json.dumps(run), flush=True)


if __name__ == "__main__":
    main()
