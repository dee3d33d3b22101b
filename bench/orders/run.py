"""Orders benchmark: concurrent tasking requests over HTTP, quote PDFs, ledger invariants.

    .venv/bin/python bench/orders/run.py [--clients 16] [--duration 20] [--workers 4]

Creates a scratch database (dropped at the end) on the server of DATABASE_URL
(default: the development server), migrates it, seeds entities (users with an
API token each, the first a Referent) and their tasking allowances, and then:

  bare        the issue's reference endpoint (bare.py: lock one row, insert
              one) under the same gunicorn settings and clients, 10 s;
  one-token   `--clients` client processes, one user's token, ONE entity;
  one-entity  the same entity, one user (and token) per client;
  scarce      an entity whose allowance runs out under full concurrency (its
              later orders are co-funded and quoted), 5 s at most;
  many        the clients spread over `--entities` entities;
then `--quotes` quote PDFs one after another, `--cancels` cancellations by 8
clients, and the ledger invariants in SQL: every transaction and the trial
balance sum to zero; every account's entries sum to what `quota.balances`
reports; no available account's running sum (entries in id order) ever goes
below zero; per order, one reserve posting, free + co-funded = charged, and
held + consumed + released = its free part; a cancelled order holds nothing.

For each load phase: orders/s, p50/p95/p99 latency, error statuses, and the
CPU per order of gunicorn, of the database's backends and of the clients.
Exits 1 on an invariant violation or a non-201. Only 127.0.0.1 is contacted;
every loop is bounded in time. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg
from alembic import command

from bench.revisions import extract
from dinamis import create_app
from dinamis.config import from_env
from dinamis.core.migrate import alembic_config
from tests.conftest import create_database, drop_database, unique_db_name

ROOT = Path(__file__).resolve().parents[2]
SECRET = "bench-orders-secret-" + "x" * 32
FAMILY = "tasking"


# --- seeding ---------------------------------------------------------------


@dataclass
class Seeded:
    hot: list[str]  # tokens of the hot entity's users (its Referent first)
    scarce: list[str]  # tokens of the users of an entity whose allowance runs out
    many: list[str]  # one token per other entity (the first with a small allowance)
    period: str


def seed(url: str, users: int, entities: int, scarce_allowance: Decimal) -> Seeded:
    """Profile, price rule, entities with users (a Referent first) and tokens, allowances."""
    from dinamis.accounts import service as accounts
    from dinamis.accounts.models import EntityRole
    from dinamis.core.transaction import commit
    from dinamis.extensions import db
    from dinamis.quota import service as quota
    from dinamis.quota.models import PriceRule
    from tests.factories import make_entity, make_profile, make_user

    app = create_app(
        {"database_url": url, "log_level": "WARNING", "log_json": False, "secret_key": SECRET}
    )
    period = quota.period_for(dt.date.today())
    tokens: list[list[str]] = []
    with app.app_context():
        profile = make_profile("research-fr")
        db.session.add(
            PriceRule(
                profile_id=profile.id,
                sensor="pleiades",
                order_kind="tasking",
                eur_per_km2=Decimal("1.80"),
            )
        )
        for n in range(entities + 2):
            entity = make_entity(f"Bench entity {n}")
            tokens.append([])
            for u in range(users if n < 2 else 1):
                user = make_user(
                    f"user{u}.entity{n}@bench.test",
                    entity=entity,
                    entity_role=EntityRole.REFERENT if u == 0 else EntityRole.MEMBER,
                    password=None,
                    language="en",
                )
                tokens[-1].append(accounts.create_api_token(user, "bench")[1])
            if n == 1:
                allowance = scarce_allowance  # runs out under full concurrency
            elif n == 2:
                allowance = Decimal("1000")  # most of its orders are co-funded
            else:
                allowance = Decimal("100000000")  # never runs out
            quota.grant(entity, FAMILY, period, allowance)
        commit()
        db.engine.dispose()
    return Seeded(hot=tokens[0], scarce=tokens[1], many=[t[0] for t in tokens[2:]], period=period)


@contextmanager
def scratch_app(prefix: str) -> Iterator[tuple[object, Seeded]]:
    """A scratch database, migrated and seeded with one entity (its users and
    tokens), and the app over it, for in-process measurements; dropped after."""
    from dinamis.extensions import db

    name = unique_db_name(prefix)
    url = create_database(name)
    app = None
    try:
        config = alembic_config(url)
        config.attributes["configure_logging"] = False
        command.upgrade(config, "heads")
        seeded = seed(url, 1, 1, Decimal("1000"))
        mail = from_env().mail
        app = create_app(
            {
                "database_url": url,
                "log_level": "WARNING",
                "log_json": False,
                "secret_key": SECRET,
                "ratelimit_enabled": False,
                # As gunicorn serves it (start_gunicorn): the outbox worker sends the mail.
                "mail": dataclasses.replace(
                    mail,
                    deliver_in_request=os.environ.get("BENCH_MAIL_IN_REQUEST", "false") == "true",
                ),
            }
        )
        yield app, seeded
    finally:
        if app is not None:
            db.engine_of(app).dispose()
        drop_database(name)


# --- HTTP ------------------------------------------------------------------


class Http:
    """A small HTTP/1.1 client on http.client: far lighter on CPU than httpx, which
    matters when the clients share the server's two cores. Reconnects when the
    server closes the connection (gunicorn's sync workers close after each answer)."""

    def __init__(self, base: str, token: str | None = None) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: object | None = None) -> tuple[int, bytes, str]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                content = response.read()
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
                continue  # a kept-alive connection the server had closed: once more
            if response.will_close:
                self.close()
            return response.status, content, response.getheader("Content-Type", "")
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- gunicorn --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(
    url: str,
    port: int,
    workers: int,
    worker_class: str,
    threads: int,
    log: Path,
    app: str = "wsgi:app",
    ready: str = "/api/v1/openapi.json",
    root: Path = ROOT,
) -> subprocess.Popen[bytes]:
    """gunicorn serving `app` from `root`'s bench/orders (its wsgi.py puts `root` first on
    the path, so the code served is that tree's)."""
    env = {
        "PYTHONPATH": str(root),
        **{k: v for k, v in os.environ.items() if not k.startswith("DINAMIS_")},
        "DATABASE_URL": url,
        "DINAMIS_SECRET_KEY": SECRET,
        "DINAMIS_RATELIMIT_ENABLED": "false",
        "DINAMIS_LOG_LEVEL": "WARNING",
        "DINAMIS_LOG_JSON": "false",
        # As recommended in production: the outbox worker sends the mail, not the request.
        "DINAMIS_MAIL_DELIVER_IN_REQUEST": os.environ.get("BENCH_MAIL_IN_REQUEST", "false"),
    }
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(root / "bench" / "orders"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--backlog",
        "256",
        "--log-level",
        "warning",
        app,
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            argv, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited ({process.returncode}); see {log}")
        try:
            if Http(base).request("GET", ready)[0] < 500:
                return process
        except OSError:
            pass
        time.sleep(0.3)
    stop_gunicorn(process)
    raise SystemExit(
        f"gunicorn did not answer within 180 s (a loaded machine starts it slowly); see {log}"
    )


def stop_gunicorn(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- CPU accounting --------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class CpuMeter:
    """CPU seconds used by gunicorn (master and workers) and by the database's backends."""

    gunicorn_pid: int
    url: str
    db_name: str

    def sample(self) -> tuple[float, float]:
        children = Path(f"/proc/{self.gunicorn_pid}/task/{self.gunicorn_pid}/children")
        pids = [self.gunicorn_pid, *map(int, children.read_text().split())]
        with psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://", 1)) as c:
            backends = [
                row[0]
                for row in c.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db_name,)
                )
            ]
        return sum(map(_cpu_of, pids)), sum(map(_cpu_of, backends))


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot."""
    values = list(map(int, Path("/proc/stat").read_text().split("\n")[0].split()[1:]))
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# --- load ------------------------------------------------------------------


def tasking_body(n: int) -> dict[str, object]:
    """A 0.15° square (~196 km² at 45°N) somewhere in France, a window 10 to 100 days out."""
    lon, lat = -1.0 + (n % 40) * 0.2, 44.0 + (n // 40 % 20) * 0.2
    today = dt.date.today()
    return {
        "aoi": {
            "type": "Polygon",
            "coordinates": [
                [
                    [lon, lat],
                    [lon + 0.15, lat],
                    [lon + 0.15, lat + 0.15],
                    [lon, lat + 0.15],
                    [lon, lat],
                ]
            ],
        },
        "sensor": "pleiades",
        "window": {
            "start": (today + dt.timedelta(days=10)).isoformat(),
            "end": (today + dt.timedelta(days=100)).isoformat(),
        },
        "max_cloud_cover": 20,
        "max_incidence_angle": 30,
        "mode": "mono",
        "spectral_mode": "PMS",
        "project": {
            "title": f"Bench {n}",
            "description": "Benchmark tasking request",
            "justification": "Benchmark",
            "theme": "other",
        },
    }


@dataclass
class ClientResult:
    latencies: list[float] = field(default_factory=list)  # seconds, 2xx answers only
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # a few samples
    ended: float = 0.0
    cpu: float = 0.0  # CPU seconds of this client process
    created: list[tuple[int, str]] = field(default_factory=list)  # (order id, cofunded km²)


def submit_loop(
    base: str,
    tokens: list[str],
    start_at: float,
    duration: float,
    seed_n: int,
    path: str = "/api/v1/tasking-requests",
) -> ClientResult:
    """One client: submit until `duration` seconds after `start_at` (wall clock)."""
    result = ClientResult()
    clients = [Http(base, t) for t in tokens]
    time.sleep(max(0.0, start_at - time.time()))
    cpu_start = time.process_time()
    stop, n = start_at + duration, seed_n
    while time.time() < stop:
        client = clients[n % len(clients)]
        t0 = time.perf_counter()
        try:
            status, content, _type = client.request("POST", path, tasking_body(n))
        except (OSError, http.client.HTTPException) as exc:
            result.statuses[type(exc).__name__] += 1
            if len(result.errors) < 3:
                result.errors.append(repr(exc))
            n += 1
            continue
        took = time.perf_counter() - t0
        result.statuses[str(status)] += 1
        if status == 201:
            result.latencies.append(took)
            body = json.loads(content)
            result.created.append((body["id"], body.get("cofunded_km2", "0")))
        elif len(result.errors) < 3:
            result.errors.append(f"{status} {content[:300]!r}")
        n += 1
    result.ended = time.time()
    result.cpu = time.process_time() - cpu_start
    for client in clients:
        client.close()
    return result


def cancel_loop(base: str, token: str, order_ids: list[int]) -> ClientResult:
    result = ClientResult()
    client = Http(base, token)
    for order_id in order_ids:
        t0 = time.perf_counter()
        status, content, _type = client.request(
            "POST", f"/api/v1/tasking-requests/{order_id}/cancel", {}
        )
        result.statuses[str(status)] += 1
        if status == 200:
            result.latencies.append(time.perf_counter() - t0)
        elif len(result.errors) < 3:
            result.errors.append(f"{status} {content[:300]!r}")
    client.close()
    return result


@dataclass
class Phase:
    label: str
    clients: int
    duration: float
    results: list[ClientResult]
    app_cpu: float = 0.0  # seconds, gunicorn
    db_cpu: float = 0.0  # seconds, PostgreSQL backends of the scratch database
    machine_busy: float = 0.0  # share of the machine's CPU busy (all processes)

    @property
    def ok(self) -> int:
        return sum(len(r.latencies) for r in self.results)

    @property
    def statuses(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.results:
            total.update(r.statuses)
        return total

    @property
    def latencies(self) -> list[float]:
        return sorted(x for r in self.results for x in r.latencies)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def run_phase(
    label: str,
    base: str,
    token_sets: list[list[str]],
    duration: float,
    offset: int,
    meter: CpuMeter | None = None,
    path: str = "/api/v1/tasking-requests",
) -> Phase:
    start_at = time.time() + 1.5  # every process started and connected by then
    with ProcessPoolExecutor(max_workers=len(token_sets)) as pool:
        futures = [
            pool.submit(submit_loop, base, tokens, start_at, duration, offset + i * 100_000, path)
            for i, tokens in enumerate(token_sets)
        ]
        time.sleep(max(0.0, start_at - time.time()))
        before = meter.sample() if meter else (0.0, 0.0)
        busy_before = machine_busy()
        results = [f.result() for f in futures]
        after = meter.sample() if meter else (0.0, 0.0)
        busy_after = machine_busy()
    elapsed = max(r.ended for r in results) - start_at
    busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    return Phase(
        label,
        len(token_sets),
        elapsed,
        results,
        app_cpu=after[0] - before[0],
        db_cpu=after[1] - before[1],
        machine_busy=busy,
    )


def report_phase(phase: Phase) -> dict[str, object]:
    lat = phase.latencies
    others = {k: v for k, v in phase.statuses.items() if k != "201"}
    row = {
        "phase": phase.label,
        "clients": phase.clients,
        "seconds": round(phase.duration, 1),
        "orders": phase.ok,
        "orders_per_s": round(phase.ok / phase.duration, 1),
        "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
        "p95_ms": round(percentile(lat, 0.95) * 1000, 1),
        "p99_ms": round(percentile(lat, 0.99) * 1000, 1),
        "errors": sum(others.values()),
        "error_statuses": dict(others),
        "cofunded": sum(1 for r in phase.results for _i, c in r.created if Decimal(c) > 0),
        "app_cpu_ms": round(phase.app_cpu / max(1, phase.ok) * 1000, 1),
        "db_cpu_ms": round(phase.db_cpu / max(1, phase.ok) * 1000, 1),
        "client_cpu_ms": round(sum(r.cpu for r in phase.results) / max(1, phase.ok) * 1000, 1),
        "machine_busy": round(phase.machine_busy * 100),
    }
    print(
        f"{phase.label}: {row['orders']} orders in {row['seconds']} s = "
        f"{row['orders_per_s']} orders/s; p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, "
        f"p99 {row['p99_ms']} ms; {row['cofunded']} co-funded; errors {row['errors']} {others}\n"
        f"  CPU per order: gunicorn {row['app_cpu_ms']} ms, PostgreSQL {row['db_cpu_ms']} ms, "
        f"clients {row['client_cpu_ms']} ms; machine {row['machine_busy']} % busy",
        flush=True,
    )
    for r in phase.results:
        for error in r.errors[:1]:
            print(f"  sample error: {error}", flush=True)
    return row


def quote_latencies(base: str, token: str, order_ids: list[int], count: int) -> list[float]:
    times = []
    client = Http(base, token)
    for i in range(count):
        order_id = order_ids[i % len(order_ids)]
        t0 = time.perf_counter()
        status, content, _type = client.request(
            "GET", f"/api/v1/tasking-requests/{order_id}/quote.pdf"
        )
        took = time.perf_counter() - t0
        if status != 200 or not content.startswith(b"%PDF"):
            raise SystemExit(f"quote.pdf of order {order_id}: {status}")
        times.append(took)
    client.close()
    return sorted(times)


# --- invariants ------------------------------------------------------------

CHECKS = {
    "transaction entries not summing to zero": """
        SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries
        GROUP BY transaction_id HAVING sum(amount) <> 0) t""",
    "available accounts whose running sum ever went below zero": """
        SELECT count(DISTINCT account_id) FROM (
            SELECT e.account_id,
                   sum(e.amount) OVER (PARTITION BY e.account_id ORDER BY e.id) AS running
            FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
            WHERE a.kind = 'available') r
        WHERE running < 0""",
    # A fully co-funded order reserves nothing, and a transaction that moves
    # nothing is not posted (migration 0024): none for it, one for the others.
    "orders without exactly one reserve posting (none when nothing is free)": """
        SELECT count(*) FROM orders o
        WHERE (SELECT count(*) FROM ledger_transactions t
               WHERE t.order_id = o.id AND t.kind = 'reserve')
              <> CASE WHEN o.free_km2 > 0 THEN 1 ELSE 0 END""",
    "orders whose free + co-funded differs from charged": """
        SELECT count(*) FROM orders WHERE free_km2 + cofunded_km2 <> charged_km2""",
    "orders whose reserved km² differ from their free part": """
        SELECT count(*) FROM orders o WHERE o.free_km2 <> coalesce((
            SELECT sum(e.amount) FROM ledger_entries e
            JOIN ledger_transactions t ON t.id = e.transaction_id
            JOIN ledger_accounts a ON a.id = e.account_id
            WHERE t.order_id = o.id AND t.kind = 'reserve'
              AND a.kind = 'reserved'), 0)""",
    # What an order took from `available` went to reserved; from there it is
    # either still held, consumed, or released back: the three add up to it.
    "orders whose held + consumed + released differs from their free part": """
        SELECT count(*) FROM orders o WHERE o.free_km2 <> coalesce((
            SELECT sum(CASE WHEN a.kind = 'reserved' THEN e.amount ELSE 0 END)
                 + sum(CASE WHEN a.kind = 'consumed' THEN e.amount ELSE 0 END)
                 + sum(CASE WHEN a.kind = 'available' AND t.kind = 'release'
                            THEN e.amount ELSE 0 END)
            FROM ledger_entries e
            JOIN ledger_transactions t ON t.id = e.transaction_id
            JOIN ledger_accounts a ON a.id = e.account_id
            WHERE t.order_id = o.id), 0)""",
    "cancelled orders still holding km²": """
        SELECT count(*) FROM orders o WHERE o.status = 'cancelled' AND 0 <> coalesce((
            SELECT sum(e.amount) FROM ledger_entries e
            JOIN ledger_transactions t ON t.id = e.transaction_id
            JOIN ledger_accounts a ON a.id = e.account_id
            WHERE t.order_id = o.id
              AND a.kind IN ('reserved', 'cofunded_reserved')), 0)""",
}


def check_invariants(url: str) -> tuple[dict[str, int], dict[str, object]]:
    """Count violations of each rule (all must be 0) and a few totals."""
    from sqlalchemy import select

    from dinamis.extensions import db
    from dinamis.membership.models import Entity
    from dinamis.quota import service as quota

    violations: dict[str, int] = {}
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        for label, sql in CHECKS.items():
            violations[label] = conn.execute(sql).fetchone()[0]  # type: ignore[index]
        sums = {
            (entity_id, family, period, kind): total
            for entity_id, family, period, kind, total in conn.execute(
                "SELECT a.entity_id, a.family, a.period, a.kind, coalesce(sum(e.amount), 0) "
                "FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id "
                "WHERE a.entity_id IS NOT NULL GROUP BY a.id"
            )
        }
        totals = {
            "orders": conn.execute("SELECT count(*) FROM orders").fetchone()[0],  # type: ignore[index]
            "ledger entries": conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0],  # type: ignore[index]
            "mails queued": conn.execute("SELECT count(*) FROM outbox_messages").fetchone()[0],  # type: ignore[index]
        }
    # Balances as the product reports them, against the raw sums per account.
    app = create_app({"database_url": url, "log_level": "WARNING", "log_json": False})
    mismatched = 0
    with app.app_context():
        for entity in db.session.scalars(select(Entity)):
            for b in quota.balances(entity):
                for kind, value in (
                    ("available", b.available),
                    ("reserved", b.reserved),
                    ("consumed", b.consumed),
                    ("cofunded_reserved", b.cofunded_reserved),
                    ("cofunded_consumed", b.cofunded_consumed),
                ):
                    raw = sums.get((entity.id, b.family, b.period, kind), Decimal("0"))
                    mismatched += raw != value
                if b.available < 0:
                    mismatched += 1
        trial = quota.trial_balance()
        db.session.rollback()
        db.engine.dispose()
    violations["balances differing from their accounts' entries (or negative)"] = mismatched
    violations["trial balance not zero"] = int(trial != 0)
    return violations, totals


# --- main ------------------------------------------------------------------


def calibrate(url: str, name: str, args: argparse.Namespace, log: Path) -> dict[str, object]:
    """The issue's reference: bare Flask locking one row and inserting one, same settings."""
    from bench.orders.bare import SCHEMA

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        conn.execute(SCHEMA)
    port = free_port()
    server = start_gunicorn(
        url, port, args.workers, args.worker_class, args.threads, log, "bare:app", "/"
    )
    try:
        base = f"http://127.0.0.1:{port}"
        meter = CpuMeter(server.pid, url, name)
        run_phase("warm-up", base, [["-"]] * args.clients, 1.0, 0, path="/bare")
        phase = run_phase(
            "bare endpoint (reference)", base, [["-"]] * args.clients, 10.0, 0, meter, "/bare"
        )
        return report_phase(phase)
    finally:
        stop_gunicorn(server)


def paced_loop(
    base: str,
    tokens: list[str],
    start_at: float,
    duration: float,
    seed_n: int,
    path: str,
    interval: float,
    offset: float,
) -> ClientResult:
    """One client of an open-loop load: a submission every `interval` seconds from
    `start_at + offset`, on schedule whatever the answers' times. A latency is counted
    from the scheduled moment, so a request sent late because the previous one was
    slow counts its wait (no coordinated omission)."""
    result = ClientResult()
    clients = [Http(base, t) for t in tokens]
    cpu_start = time.process_time()
    stop, n, k = start_at + duration, seed_n, 0
    while (due := start_at + offset + k * interval) < stop:
        time.sleep(max(0.0, due - time.time()))
        late = max(0.0, time.time() - due)
        client = clients[n % len(clients)]
        t0 = time.perf_counter()
        status, content, _type = client.request("POST", path, tasking_body(n))
        took = time.perf_counter() - t0 + late
        result.statuses[str(status)] += 1
        if status == 201:
            result.latencies.append(took)
            body = json.loads(content)
            result.created.append((body["id"], body.get("cofunded_km2", "0")))
        elif len(result.errors) < 3:
            result.errors.append(f"{status} {content[:300]!r}")
        n, k = n + 1, k + 1
    result.ended = time.time()
    result.cpu = time.process_time() - cpu_start
    for client in clients:
        client.close()
    return result


def run_paced(
    label: str,
    base: str,
    token_sets: list[list[str]],
    rate: float,
    duration: float,
    offset: int,
    meter: CpuMeter | None = None,
) -> Phase:
    """`rate` submissions a second in all, spread evenly over the clients (open loop)."""
    clients = len(token_sets)
    interval = clients / rate
    start_at = time.time() + 1.5
    path = "/api/v1/tasking-requests"
    with ProcessPoolExecutor(max_workers=clients) as pool:
        futures = [
            pool.submit(
                paced_loop,
                base,
                tokens,
                start_at,
                duration,
                offset + i * 100_000,
                path,
                interval,
                i * interval / clients,
            )
            for i, tokens in enumerate(token_sets)
        ]
        time.sleep(max(0.0, start_at - time.time()))
        before = meter.sample() if meter else (0.0, 0.0)
        busy_before = machine_busy()
        results = [f.result() for f in futures]
        after = meter.sample() if meter else (0.0, 0.0)
        busy_after = machine_busy()
    elapsed = max(r.ended for r in results) - start_at
    busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    return Phase(
        label,
        clients,
        elapsed,
        results,
        app_cpu=after[0] - before[0],
        db_cpu=after[1] - before[1],
        machine_busy=busy,
    )


# --- one code tree or two, side by side ---------------------------------------------------

# Run inside a code tree (its own dinamis and bench.orders.run): migrate and seed a
# database, or count its invariants, and print the result as JSON. The code of
# either side uses its own models, so a schema that changed between them is fine.
IN_TREE = """
import dataclasses, json, sys
from decimal import Decimal
sys.path.insert(0, sys.argv[1])
from bench.orders import run
args = json.loads(sys.argv[3])
if sys.argv[2] == "prepare":
    from alembic import command
    from dinamis.core.migrate import alembic_config
    config = alembic_config(args["url"])
    config.attributes["configure_logging"] = False
    command.upgrade(config, "heads")
    found = dataclasses.asdict(
        run.seed(args["url"], args["users"], args["entities"], Decimal(args["scarce"]))
    )
else:
    found = run.check_invariants(args["url"])
print("\\nRESULT " + json.dumps(found, default=str))
"""


def in_tree(root: Path, what: str, **kwargs: object) -> object:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DINAMIS_")},
        "PYTHONPATH": str(root),
    }
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", IN_TREE, str(root), what, json.dumps(kwargs, default=str)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{what} in {root} failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return json.loads(done.stdout.rsplit("\nRESULT ", 1)[1])


@dataclass
class Side:
    """One code tree served by its own gunicorn over its own scratch database."""

    label: str
    root: Path
    db_name: str = ""
    url: str = ""
    seeded: Seeded | None = None
    server: subprocess.Popen[bytes] | None = None
    base: str = ""
    meter: CpuMeter | None = None
    hot_ids: list[int] = field(default_factory=list)
    cofunded: list[int] = field(default_factory=list)
    quotes: list[float] = field(default_factory=list)
    cancel_line: str = ""
    failed: bool = False


def start_side(side: Side, args: argparse.Namespace, log: Path) -> None:
    side.db_name = unique_db_name("orders")
    side.url = create_database(side.db_name)
    found = in_tree(
        side.root,
        "prepare",
        url=side.url,
        users=args.clients,
        entities=args.entities,
        scarce=args.scarce_allowance,
    )
    assert isinstance(found, dict)
    side.seeded = Seeded(**found)
    port = free_port()
    side.base = f"http://127.0.0.1:{port}"
    side.server = start_gunicorn(
        side.url,
        port,
        args.workers,
        args.worker_class,
        args.threads,
        log,
        root=side.root,
    )
    side.meter = CpuMeter(side.server.pid, side.url, side.db_name)
    # Warm-up: every worker imports, connects and renders once.
    run_phase("warm-up", side.base, [side.seeded.many[-1:]] * args.clients, 2.0, 9_000_000)


def load_phases(args: argparse.Namespace, phases: set[str]) -> list[str]:
    return [p for p in ("paced", "one-token", "one-entity", "scarce", "many") if p in phases]


def run_load(side: Side, name: str, args: argparse.Namespace) -> dict[str, object]:
    seeded, base, meter = side.seeded, side.base, side.meter
    assert seeded is not None
    label = f"[{side.label}] " if args.before else ""
    if name == "paced":  # a realistic load: `--rate` a second over the other entities
        sets = [seeded.many[i :: args.clients] for i in range(args.clients)]
        phase = run_paced(
            f"{label}{args.rate:g} submissions/s, {args.entities} entities",
            base,
            sets,
            args.rate,
            args.duration,
            7_000_000,
            meter,
        )
    elif name == "one-token":  # 16 clients, one user's token, one entity
        phase = run_phase(
            f"{label}one entity, one token",
            base,
            [seeded.hot[:1]] * args.clients,
            args.duration,
            0,
            meter,
        )
        side.hot_ids += [i for r in phase.results for i, _c in r.created]
    elif name == "one-entity":  # 16 clients, 16 users of one entity
        phase = run_phase(
            f"{label}one entity, 16 users",
            base,
            [[t] for t in seeded.hot[: args.clients]],
            args.duration,
            1_000_000,
            meter,
        )
        side.hot_ids += [i for r in phase.results for i, _c in r.created]
    elif name == "scarce":  # the allowance runs out under full concurrency
        phase = run_phase(
            f"{label}one entity, allowance runs out",
            base,
            [[t] for t in seeded.scarce[: args.clients]],
            min(args.duration, 5.0),
            2_000_000,
            meter,
        )
        side.cofunded += [i for r in phase.results for i, c in r.created if Decimal(c) > 0]
    else:  # 16 clients spread over the other entities
        sets = [seeded.many[i :: args.clients] for i in range(args.clients)]
        phase = run_phase(
            f"{label}{args.entities} entities", base, sets, args.duration, 5_000_000, meter
        )
    row = report_phase(phase)
    row["side"], row["load"] = side.label, name
    return row


def finish_side(side: Side, args: argparse.Namespace) -> None:
    """Quote PDFs and cancellations on this side's server, then its server stopped."""
    seeded, base = side.seeded, side.base
    assert seeded is not None and side.server is not None
    quote_token = seeded.scarce[0]
    cofunded = side.cofunded
    if args.quotes and not cofunded:  # the small-allowance entity: soon co-funded
        one = submit_loop(base, seeded.many[:1], time.time(), 3.0, 8_000_000)
        cofunded = [i for i, c in one.created if Decimal(c) > 0]
        quote_token = seeded.many[0]
    if args.quotes:
        side.quotes = quote_latencies(base, quote_token, cofunded[-50:], args.quotes)
        print(
            f"[{side.label}] quote.pdf: {len(side.quotes)} requests one after another, "
            f"p50 {statistics.median(side.quotes) * 1000:.1f} ms, "
            f"p95 {percentile(side.quotes, 0.95) * 1000:.1f} ms",
            flush=True,
        )
    if side.hot_ids and args.cancels:
        ids = sorted(side.hot_ids)[: args.cancels]
        per = [ids[i :: min(8, args.clients)] for i in range(min(8, args.clients))]
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=len(per)) as pool:
            cancels = list(
                pool.map(cancel_loop, [base] * len(per), [seeded.hot[0]] * len(per), per)
            )
        took = time.perf_counter() - started
        done = sum(len(r.latencies) for r in cancels)
        bad = sum(v for r in cancels for k, v in r.statuses.items() if k != "200")
        side.cancel_line = f"{done} orders cancelled by 8 clients in {took:.1f} s, errors {bad}"
        print(f"[{side.label}] cancel: {side.cancel_line}", flush=True)
        side.failed |= bad > 0
    stop_gunicorn(side.server)


def check_side(side: Side, log: Path) -> None:
    server_log = log.read_text(errors="replace") if log.exists() else ""
    errors_logged = [
        line for line in server_log.splitlines() if "Traceback" in line or "[ERROR]" in line
    ]
    if errors_logged:
        print(f"[{side.label}] gunicorn log: {len(errors_logged)} error lines, {errors_logged[:3]}")
    found = in_tree(side.root, "invariants", url=side.url)
    assert isinstance(found, list)
    violations, totals = found
    print(f"[{side.label}] totals: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    print(f"[{side.label}] invariants (violations, all must be 0):")
    for label, count in violations.items():
        print(f"  {count:>6}  {label}")
    side.failed |= any(violations.values())


def side_by_side(rows: list[dict[str, object]], sides: list[Side]) -> None:
    """The table for the README: each load phase, each side, and orders/s ÷ bare."""
    bare = [float(r["orders_per_s"]) for r in rows if r.get("load") == "bare"]  # type: ignore[arg-type]
    reference = statistics.mean(bare) if bare else float("nan")
    print(f"\nbare endpoint: {', '.join(f'{b:.1f}' for b in bare)} requests/s")
    print("| phase | code | orders/s | ÷ bare | p50 | p95 | p99 | gunicorn CPU | PG CPU |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    loads = [r for r in rows if r.get("load") not in (None, "bare")]
    for name in dict.fromkeys(str(r["load"]) for r in loads):
        for side in sides:
            for r in loads:
                if r["load"] == name and r["side"] == side.label:
                    label = str(r["phase"]).removeprefix(f"[{side.label}] ")
                    rate = float(r["orders_per_s"])  # type: ignore[arg-type]
                    print(
                        f"| {label} | {side.label} | {rate:.1f} | {rate / reference:.2f} | "
                        f"{r['p50_ms']} ms | {r['p95_ms']} ms | {r['p99_ms']} ms | "
                        f"{r['app_cpu_ms']} ms | {r['db_cpu_ms']} ms |"
                    )


PHASES = ("bare", "paced", "one-token", "one-entity", "scarce", "many")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load phase")
    parser.add_argument("--entities", type=int, default=64)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quotes", type=int, default=100)
    parser.add_argument("--cancels", type=int, default=200)
    parser.add_argument(
        "--rate", type=float, default=20.0, help="submissions/s of the paced (open-loop) phase"
    )
    parser.add_argument(
        "--scarce-allowance",
        type=Decimal,
        default=Decimal("5880"),
        help="free km² of the entity whose allowance runs out (30 orders of 196 km²)",
    )
    parser.add_argument("--phases", default=",".join(PHASES), help=", ".join(PHASES))
    parser.add_argument(
        "--before",
        metavar="REVISION",
        help="also serve this git revision's code (its own database and gunicorn) and run "
        "each load phase on both, one after the other, in the same run",
    )
    parser.add_argument("--json", type=Path, help="write every phase's figures here")
    args = parser.parse_args()
    phases = set(filter(None, args.phases.split(",")))

    rows: list[dict[str, object]] = []
    sides: list[Side] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.before:
            before = extract(args.before, Path(tmp) / "before")
            sides.append(Side(f"before ({args.before})", before))
        sides.append(Side("after" if args.before else "this tree", ROOT))
        bare_name = unique_db_name("orders_bare")
        bare_url = create_database(bare_name)
        try:
            for n, side in enumerate(sides):
                start_side(side, args, Path(tmp) / f"gunicorn-{n}.log")
            print(
                f"gunicorn: {args.workers} {args.worker_class} workers x {args.threads} threads "
                f"per side; {args.clients} clients, {args.duration:.0f} s per phase; "
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            if "bare" in phases:  # the reference endpoint, same server settings and clients
                rows.append({**calibrate(bare_url, bare_name, args, Path(tmp) / "bare.log")})
                rows[-1]["load"] = "bare"
            for k, name in enumerate(load_phases(args, phases)):
                # Each phase on every side in turn, the first side alternating (drift).
                for side in sides if k % 2 == 0 else list(reversed(sides)):
                    rows.append(run_load(side, name, args))
            if "bare" in phases and len(sides) > 1:  # the machine again, at the end
                rows.append({**calibrate(bare_url, bare_name, args, Path(tmp) / "bare2.log")})
                rows[-1]["load"] = "bare"
            for side in sides:
                finish_side(side, args)
            for n, side in enumerate(sides):
                check_side(side, Path(tmp) / f"gunicorn-{n}.log")
            side_by_side(rows, sides)
        finally:
            for side in sides:
                if side.server is not None:
                    stop_gunicorn(side.server)
                if side.db_name:
                    drop_database(side.db_name)
            drop_database(bare_name)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    failed = any(side.failed for side in sides) or any(row["errors"] for row in rows)
    print("FAILED" if failed else "OK")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
