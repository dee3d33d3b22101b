"""Reporting benchmark: the staff dashboard and the programme's yearly PDF at volume.

    .venv/bin/python bench/reports/run.py [--repeat 30] [--pdf-runs 3] [--explain]
    .venv/bin/python bench/reports/run.py --database NAME   # reuse a generated database

Creates a scratch database on the server of DATABASE_URL (default: the
development server), migrates it, fills it with bench/reports/generate.py
(1,000 entities, 20,000 users, 200,000 orders and their ledger, 2,000,000
downloads), then, in-process with the Flask test client signed in as staff:

(a) GET /reports/stats for the current year grouped by entity, profile,
    sensor and family, filtered by a profile and by the largest entity;
(b) each statistics function alone (the SQL and its Python);
(c) GET /reports/yearly/<year>.pdf (the programme's PDF), with the time of
    its parts.

Prints p50 / p95 (nearest rank) per case and the slowest SQL statements of
one dashboard request; --explain adds their EXPLAIN ANALYZE. The database is
dropped at the end unless --keep (or --database) is given.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from alembic import command
from flask_login import login_user
from sqlalchemy import event, func, select

from bench.reports.generate import generate
from dinamis.accounts import service as accounts
from dinamis.core.columns import values_of
from dinamis.core.migrate import alembic_config
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity, Profile
from dinamis.orders.models import Order, Sensor
from dinamis.quota.models import Family
from dinamis.reports import stats, yearly
from dinamis.wsgi import make_app
from tests.conftest import (
    PASSWORD,
    _server_url,
    _with_db,
    create_database,
    drop_database,
    login,
    unique_db_name,
)

STAFF = "bench.staff@dinamis.test"
DASHBOARD_TARGET_MS = 300
PDF_TARGET_S = 10


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p95 = ordered[max(math.ceil(len(ordered) * 0.95) - 1, 0)]
    return statistics.median(ordered), p95


class QueryLog:
    """The SQL statements run while `active`, with their parameters and duration."""

    def __init__(self, engine: Any) -> None:
        self.active = False
        self.queries: list[tuple[float, str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.active:
            took = (time.perf_counter() - conn.info["bench_started"]) * 1000
            self.queries.append((took, statement, parameters))


def server_cpu(database: str) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends connected to `database`.

    Read from /proc (user + system time), so only when the server runs on this
    machine and its processes are visible; None otherwise. Parallel workers
    (their own processes, gone when the query ends) are not counted.
    """
    total, found = 0.0, False
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().decode(errors="replace")
            if not command_line.startswith("postgres:") or f" {database} " not in command_line:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        found = True
    return total if found else None


class Cpu:
    """CPU per call of the last `timed` run: this process (the app) and the database's."""

    database = ""
    app_ms: float = 0.0
    db_ms: float | None = None

    @classmethod
    def text(cls) -> str:
        db_part = "n/a" if cls.db_ms is None else f"{cls.db_ms:6.1f} ms"
        return f"CPU/call: app {cls.app_ms:6.1f} ms, PostgreSQL {db_part}"


def timed(fn: Callable[[], Any], repeat: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    app_started, db_started = time.process_time(), server_cpu(Cpu.database)
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    db_ended = server_cpu(Cpu.database)
    Cpu.app_ms = (time.process_time() - app_started) * 1000 / repeat
    Cpu.db_ms = (
        None if db_started is None or db_ended is None else (db_ended - db_started) * 1000 / repeat
    )
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--pdf-runs", type=int, default=3)
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--database", help="an already generated database to reuse (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the SQL")
    parser.add_argument("--no-pdf", action="store_true")
    parser.add_argument("--pdf-only", action="store_true", help="only (c), the programme PDF")
    args = parser.parse_args()

    keep = args.keep or bool(args.database)
    name = args.database or unique_db_name("bench_reports")
    if args.database:
        url = _with_db(_server_url(), name).replace("postgresql://", "postgresql+psycopg://", 1)
    else:
        url = create_database(name)
    try:
        if not args.database:
            config = alembic_config(url)
            config.attributes["configure_logging"] = False
            command.upgrade(config, "heads")
            print(f"generating into {name}:")
            started = time.perf_counter()
            counts = generate(url)
            print(f"  total: {time.perf_counter() - started:.0f} s")
            for table, count in counts.items():
                print(f"  {table}: {count:,}")
        run(url, args)
    finally:
        if db.engine is not None:
            db.engine.dispose()
        if keep:
            print(f"\nkept database {name}")
        else:
            drop_database(name)


def run(url: str, args: argparse.Namespace) -> None:
    Cpu.database = url.rsplit("/", 1)[1].split("?")[0]
    # As a WSGI server runs it (dinamis.wsgi): start-up objects frozen out of the GC.
    app = make_app(
        {
            "database_url": url,
            "log_level": "WARNING",
            "log_json": False,
            "login_rate_limit": "1000 per minute",
            "secret_key": "bench-secret-key-" + "x" * 32,
        }
    )
    year = str(args.year)
    with app.app_context():
        if accounts.get_user_by_email(STAFF) is None:
            accounts.create_user(
                email=STAFF,
                first_name="Bench",
                last_name="Staff",
                password=PASSWORD,
                role="staff",
                language="en",
            )
            commit()

        largest = db.session.scalar(
            select(Order.entity_id).group_by(Order.entity_id).order_by(func.count().desc())
        )
        profile = db.session.scalar(select(Profile.code).where(Profile.id == 1))
        entity_count = db.session.scalar(select(func.count()).select_from(Entity))
        log = QueryLog(db.engine)
    client = app.test_client()
    login(client, STAFF)

    rows: list[tuple[str, float, float, str]] = []

    def page(query: str) -> Callable[[], Any]:
        def get() -> None:
            response = client.get(f"/reports/stats?{query}")
            assert response.status_code == 200, response.status_code

        return get

    cases = [(f"group_by={g}", f"period={year}&group_by={g}") for g in stats.GROUPS]
    cases += [
        (f"profile={profile}, by entity", f"period={year}&profile={profile}&group_by=entity"),
        (
            f"entity={largest} (largest), by family",
            f"period={year}&entity={largest}&group_by=family",
        ),
    ]
    print(f"\nload average: {Path('/proc/loadavg').read_text().strip()}")
    if not args.pdf_only:
        print(f"\n(a) dashboard GET /reports/stats, period {year}, {args.repeat} runs each")
        slowest: dict[str, list[tuple[float, str, Any]]] = {}
        for label, query in cases:
            times = timed(page(query), args.repeat)
            p50, p95 = percentiles(times)
            verdict = "ok" if p95 < DASHBOARD_TARGET_MS else "MISSED"
            rows.append((f"dashboard {label}", p50, p95, verdict))
            print(f"  {label:40} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {verdict}  {Cpu.text()}")
            log.queries.clear()
            log.active = True
            page(query)()
            log.active = False
            slowest[label] = sorted(log.queries, key=lambda q: -q[0])

        print(f"\n(b) statistics functions alone, period {year}, {args.repeat} runs each")
        f = stats.Filters(period=year)
        functions: list[tuple[str, Callable[[], Any]]] = [
            (f"ledger(group={g})", lambda g=g: stats.ledger(f, g)) for g in stats.GROUPS
        ]
        functions += [
            ("orders_by_state", lambda: stats.orders_by_state(f)),
            ("downloads", lambda: stats.downloads(f)),
            ("activity", lambda: stats.activity(f)),
            (
                f"entity <select> ({entity_count} entities)",
                lambda: db.session.execute(
                    select(Entity.id, Entity.name).order_by(Entity.name)
                ).all(),
            ),
        ]
        with app.test_request_context():
            login_user(accounts.get_user_by_email(STAFF))
            functions.append(("template stats.html (by entity)", dashboard_template(f)))
            for label, fn in functions:

                def call(fn: Callable[[], Any] = fn) -> None:
                    fn()
                    db.session.rollback()

                p50, p95 = percentiles(timed(call, args.repeat))
                rows.append((label, p50, p95, ""))
                print(f"  {label:40} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {Cpu.text()}")

        print("\nslowest SQL of one dashboard request (ms):")
        for label, queries in slowest.items():
            total = sum(q[0] for q in queries)
            print(f"  {label}: {len(queries)} statements, {total:.1f} ms in SQL")
            for took, statement, _params in queries[:4]:
                print(f"    {took:7.1f}  {' '.join(statement.split())[:150]}")

        if args.explain:
            with app.app_context():
                seen = set()
                for label, queries in slowest.items():
                    for took, statement, params in queries[:3]:
                        if statement in seen or took < 10:
                            continue
                        seen.add(statement)
                        plan = db.session.connection().exec_driver_sql(
                            "EXPLAIN (ANALYZE, BUFFERS) " + statement, params
                        )
                        print(f"\nEXPLAIN ANALYZE ({label}, {took:.0f} ms):")
                        print("  " + " ".join(statement.split())[:600])
                        print("  " + "\n  ".join(r[0] for r in plan))
                        db.session.rollback()

    if not args.no_pdf:
        print(f"\n(c) programme PDF GET /reports/yearly/{year}.pdf, {args.pdf_runs} runs")
        times, cpus = [], []
        for _ in range(args.pdf_runs):
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(f"/reports/yearly/{year}.pdf")
            times.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
            assert response.status_code == 200, response.status_code
        size = len(response.data)
        best, worst = min(times), max(times)
        verdict = "ok" if worst < PDF_TARGET_S else "MISSED"
        rows.append((f"programme PDF {year}", best * 1000, worst * 1000, verdict))
        print(f"  runs: {', '.join(f'{t:.2f} s' for t in times)}  ({size / 1e6:.1f} MB)  {verdict}")
        print(
            f"  CPU of this process: {', '.join(f'{t:.2f} s' for t in cpus)} (the rest: SQL, waits)"
        )
        print(f"  load average: {Path('/proc/loadavg').read_text().split()[:3]}")
        with app.test_request_context():
            parts = pdf_parts(int(year))
        print("  parts of one run: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))

    print("\n| case | p50 (PDF: best) | p95 (PDF: worst) | target |")
    print("|---|---:|---:|---|")
    for label, p50, p95, verdict in rows:
        if label.startswith("programme PDF"):
            print(f"| {label} | {p50 / 1000:.2f} s | {p95 / 1000:.2f} s | {verdict} |")
        else:
            print(f"| {label} | {p50:.1f} ms | {p95:.1f} ms | {verdict} |")


def dashboard_template(f: stats.Filters) -> Callable[[], Any]:
    """Rendering the dashboard's template alone (grouped by entity), its figures computed once."""
    from flask import render_template, request

    from dinamis.reports import views

    _filters, group, tables = views._stats({"period": f.period, "group_by": "entity"})
    tables["downloads"] = stats.with_titles(tables["downloads"])
    context = {
        "filters": f,
        "group": group,
        "groups": stats.GROUPS,
        "tables": tables,
        "activity": tables["activity"][0],
        "consumed_chart": stats.bars(
            tables["ledger"], "group", "consumed_km2", top=views.CHART_BARS
        ),
        "downloads_chart": stats.bars(tables["downloads"], "title", "downloads"),
        "profiles": list(db.session.scalars(select(Profile).order_by(Profile.code))),
        "entities": db.session.execute(select(Entity.id, Entity.name).order_by(Entity.name)).all(),
        "sensors": values_of(Sensor),
        "families": values_of(Family),
        "args": request.args,
    }
    return lambda: render_template("reports/stats.html", **context)


def pdf_parts(year: int) -> dict[str, float]:
    """Where the programme PDF's time goes: figures, footprints, map, HTML, WeasyPrint."""
    from flask import render_template

    from dinamis.core.pdf import html_to_pdf

    parts: dict[str, float] = {}
    t0 = time.perf_counter()
    figures = yearly.programme_figures(year)
    parts["figures (statistics)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    publications = yearly._publications(year)
    parts[f"publications ({len(publications)})"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    footprints = yearly._delivered_footprints(year)
    parts[f"footprints ({len(footprints)})"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    drawn = yearly.footprint_map(footprints)
    parts["map"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    context = yearly.programme_context(year, figures, publications, drawn)
    html = render_template(yearly.PROGRAMME_TEMPLATE, **context)
    parts[f"HTML ({len(html) / 1e6:.1f} MB)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    html_to_pdf(html)
    parts["WeasyPrint"] = time.perf_counter() - t0
    db.session.rollback()
    return parts


if __name__ == "__main__":
    main()
