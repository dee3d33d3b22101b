"""Profile one tasking submission in-process (Flask test client, cProfile).

    .venv/bin/python bench/orders/profile_submit.py [--requests 200] [--sort tottime]

Scratch database as in run.py (dropped at the end); one entity, one token.
Prints the mean wall time of a submission and the top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


from bench.orders.run import scratch_app, tasking_body


def hold_times(app: object, client: object, headers: dict[str, str], path: str, n: int) -> None:
    """Mean time from taking a row lock (the token's UPDATE, the ledger's FOR UPDATE)
    to the request's commit, against the whole request: the part that requests on
    the same token or entity cannot overlap."""
    from sqlalchemy import event

    from dinamis.extensions import db

    marks: list[tuple[str, float]] = []

    def on_execute(_c, _cur, statement, _p, _ctx, _m):  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE api_tokens"):
            marks.append(("token", time.perf_counter()))
        elif "FOR UPDATE" in statement and "ledger_accounts" in statement:
            marks.append(("ledger", time.perf_counter()))
        else:
            marks.append(("statement", time.perf_counter()))

    def on_commit(_conn):  # type: ignore[no-untyped-def]
        marks.append(("commit", time.perf_counter()))

    engine = db.engine_of(app)  # type: ignore[arg-type]
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    token = ledger = total = 0.0
    for i in range(n):
        marks.clear()
        t0 = time.perf_counter()
        client.post(path, json=tasking_body(50_000 + i), headers=headers)  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        total += t1 - t0
        first = {}
        for kind, at in marks:
            first.setdefault(kind, at)
        # The commit event fires before COMMIT is sent: the lock ends with the next
        # statement (the e-mail delivery, which starts after the commit) or the answer.
        commit = next(at for kind, at in marks if kind == "commit")
        after = [at for _k, at in marks if at > commit]
        end = after[0] if after else t1
        token += end - first.get("token", end)
        ledger += end - first.get("ledger", end)
    event.remove(engine, "before_cursor_execute", on_execute)
    event.remove(engine, "commit", on_commit)
    print(
        f"row locks over {n} submissions: request {total / n * 1000:.2f} ms; token row held "
        f"{token / n * 1000:.2f} ms; ledger account rows held {ledger / n * 1000:.2f} ms"
    )


def _backend_ticks(pids: set[int]) -> int:
    """CPU clock ticks (user + system) of these PostgreSQL backends so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def cpu_batches(app: object, client: object, headers: dict[str, str], path: str, n: int) -> None:
    """CPU per submission, this process and its PostgreSQL backend, over batches of `n`:
    min and median of 7 batches (figures that a loaded machine moves less than wall time)."""
    import os

    pids = _backends(app)
    tick = os.sysconf("SC_CLK_TCK")
    ours, theirs = [], []
    for batch in range(7):
        c0, t0 = time.process_time(), _backend_ticks(pids)
        for i in range(n):
            response = client.post(path, json=tasking_body(80_000 + batch * n + i), headers=headers)  # type: ignore[attr-defined]
            assert response.status_code == 201
        ours.append((time.process_time() - c0) / n * 1000)
        theirs.append((_backend_ticks(pids) - t0) / tick / n * 1000)
    ours.sort()
    theirs.sort()
    print(
        f"CPU per submission over 7 batches of {n}: this process min {ours[0]:.2f} ms, "
        f"median {ours[3]:.2f} ms; PostgreSQL backend min {theirs[0]:.2f} ms, "
        f"median {theirs[3]:.2f} ms (load average {Path('/proc/loadavg').read_text().split()[0]})"
    )


def _backends(app: object) -> set[int]:
    """The PostgreSQL backend pids of the app's connections from now on (its pool emptied,
    each new connection's pid added), one connection opened: whose CPU a batch costs."""
    from sqlalchemy import event, text

    from dinamis.extensions import db

    pids: set[int] = set()

    def on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.add(cursor.fetchone()[0])

    with app.app_context():  # type: ignore[attr-defined]
        db.engine.dispose()
        event.listen(db.engine, "connect", on_connect)
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    return pids


def tell_times(app: object) -> None:
    """CPU of telling the submitted orders' steps after the fact (orders.service.tell_steps,
    the outbox worker's part: the status e-mails and the webhook lookups), per step, this
    process and PostgreSQL; the code before the steps were told after the request has none."""
    from sqlalchemy import func, select

    from dinamis.extensions import db
    from dinamis.orders import service
    from dinamis.orders.models import OrderEvent

    if not hasattr(service, "tell_steps"):
        print("no tell_steps in this tree: steps are told inside the request")
        return
    pids = _backends(app)
    with app.app_context():  # type: ignore[attr-defined]
        untold = db.session.scalar(
            select(func.count()).select_from(OrderEvent).where(OrderEvent.told_at.is_(None))
        )
        tick = os.sysconf("SC_CLK_TCK")
        c0, t0, w0 = time.process_time(), _backend_ticks(pids), time.perf_counter()
        told = service.tell_steps()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        backend = (_backend_ticks(pids) - t0) / tick
    print(
        f"tell_steps: {told} of {untold} steps told, {cpu / max(told, 1) * 1000:.2f} ms CPU of "
        f"this process and {backend / max(told, 1) * 1000:.2f} ms of PostgreSQL a step "
        f"({wall / max(told, 1) * 1000:.2f} ms wall)"
    )


def look_times(app: object, client: object, headers: dict[str, str], n: int) -> None:
    """CPU of the worker's look for steps to tell (jobs.queue.wake: core.mail.untold in an
    application context of its own, as the worker runs it), this process and PostgreSQL,
    per look: with every step told, then with `n` steps untold."""
    from dinamis.core import mail
    from dinamis.orders import service

    pids = _backends(app)
    tick = os.sysconf("SC_CLK_TCK")

    def looks(label: str, count: int = 2000) -> None:
        c0, t0 = time.process_time(), _backend_ticks(pids)
        for _ in range(count):
            with app.app_context():  # type: ignore[attr-defined]
                untold = mail.untold()
        cpu = (time.process_time() - c0) / count * 1e6
        backend = (_backend_ticks(pids) - t0) / tick / count * 1e6
        print(
            f"a look, {label} ({len(untold)} found): {cpu:.0f} us CPU of this process, "
            f"{backend:.0f} us of PostgreSQL (load {Path('/proc/loadavg').read_text().split()[0]})"
        )

    with app.app_context():  # type: ignore[attr-defined]
        service.tell_steps()
    looks("every step told")
    for i in range(n):
        client.post("/api/v1/tasking-requests", json=tasking_body(90_000 + i), headers=headers)  # type: ignore[attr-defined]
    looks(f"{n} steps untold")


def quote_times(client: object, token: str, n: int) -> None:
    """quote.pdf of a co-funded order: wall and CPU per request, and the PDF rendering alone."""
    from dinamis.core import pdf

    headers = {"Authorization": f"Bearer {token}"}
    order_id = None
    for i in range(10):  # the entity's 1,000 km² run out after five orders
        body = client.post(  # type: ignore[attr-defined]
            "/api/v1/tasking-requests", json=tasking_body(70_000 + i), headers=headers
        ).get_json()
        if body["cofunded_km2"] != "0.00":
            order_id = body["id"]
    assert order_id is not None
    rendering = []
    real_render = pdf.render_pdf

    def timed_render(*a: object, **kw: object) -> bytes:
        t0 = time.perf_counter()
        try:
            return real_render(*a, **kw)  # type: ignore[arg-type]
        finally:
            rendering.append(time.perf_counter() - t0)

    import dinamis.orders.pdf as orders_pdf

    orders_pdf.render_pdf = timed_render  # type: ignore[assignment]
    url = f"/api/v1/tasking-requests/{order_id}/quote.pdf"
    client.get(url, headers=headers)  # type: ignore[attr-defined]
    rendering.clear()
    walls, cpus = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(url, headers=headers)  # type: ignore[attr-defined]
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        assert response.status_code == 200 and response.data.startswith(b"%PDF")
    walls.sort()
    cpus.sort()
    rendering.sort()
    captured: list[tuple[str, object]] = []
    real_html_to_pdf = pdf.html_to_pdf

    def capture(html: str, user_agent_css: object = None) -> bytes:
        captured.append((html, user_agent_css))
        return real_html_to_pdf(html, user_agent_css)  # type: ignore[arg-type]

    from sqlalchemy import event

    from dinamis.extensions import db

    statements: list[str] = []

    def log(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split())[:200])

    pdf.html_to_pdf = capture  # type: ignore[assignment]
    engine = db.engine_of(client.application)  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", log)
    client.get(url, headers=headers)  # type: ignore[attr-defined]
    event.remove(engine, "before_cursor_execute", log)
    pdf.html_to_pdf = real_html_to_pdf  # type: ignore[assignment]
    print(f"{len(statements)} SQL statements in one quote.pdf request:")
    for statement in statements:
        print("  " + statement)
    html, css = captured[0]
    (Path(tempfile.gettempdir()) / "orders-quote.html").write_text(html)
    variants = {
        "the quote as rendered": html,
        "without the AOI drawing (SVG)": html[: html.index("<svg")]
        + html[html.index("</svg>") + 6 :],
        "without the page footer (@bottom-center)": html.replace("@bottom-center", "@x-none"),
    }
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for _ in range(5):
        pdf.html_to_pdf(html, css)  # type: ignore[arg-type]
    profile.disable()
    profile.dump_stats(str(Path(tempfile.gettempdir()) / "orders-quote.prof"))
    for label, variant in variants.items():
        times = []
        for _ in range(max(5, n // 4)):
            c0 = time.process_time()
            pdf.html_to_pdf(variant, css)  # type: ignore[arg-type]
            times.append(time.process_time() - c0)
        times.sort()
        print(f"  WeasyPrint CPU p50, {label}: {times[len(times) // 2] * 1000:.1f} ms")
    print(
        f"quote.pdf in-process over {n}: wall p50 {walls[n // 2] * 1000:.1f} ms, "
        f"CPU p50 {cpus[n // 2] * 1000:.1f} ms, of which WeasyPrint (HTML to PDF) "
        f"p50 {rendering[n // 2] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--path", default="/api/v1/tasking-requests")
    parser.add_argument("--sql", action="store_true", help="print the SQL of one submission")
    parser.add_argument("--cpu", action="store_true", help="profile CPU time, not wall time")
    parser.add_argument("--quote", action="store_true", help="time quote.pdf instead")
    parser.add_argument(
        "--locks", action="store_true", help="how long a submission holds its row locks"
    )
    parser.add_argument(
        "--batches",
        action="store_true",
        help="CPU per submission (this process and PostgreSQL), min and median of 7 batches",
    )
    parser.add_argument(
        "--look",
        action="store_true",
        help="the CPU of the worker's look for steps to tell (jobs.queue.wake)",
    )
    parser.add_argument(
        "--tell",
        action="store_true",
        help="with --batches: then the CPU of telling those steps after the fact, per step",
    )
    args = parser.parse_args()
    with scratch_app("orders_profile") as (app, seeded):
        client = app.test_client()
        headers = {"Authorization": f"Bearer {seeded.hot[0]}"}
        for n in range(20):  # warm-up
            assert client.post(args.path, json=tasking_body(n), headers=headers).status_code == 201
        if args.quote:
            quote_times(client, seeded.scarce[0], args.requests)
            return
        if args.sql:
            from sqlalchemy import event

            from dinamis.extensions import db

            statements: list[str] = []

            def log(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
                statements.append(
                    " ".join(statement.split())[: int(os.environ.get("BENCH_SQL_WIDTH", "160"))]
                )

            engine = db.engine_of(app)  # type: ignore[arg-type]
            event.listen(engine, "before_cursor_execute", log)
            client.post(args.path, json=tasking_body(999), headers=headers)
            event.remove(engine, "before_cursor_execute", log)
            print(f"{len(statements)} statements in one submission:")
            for n, statement in enumerate(statements, 1):
                print(f"{n:3} {statement}")
        if args.look:
            look_times(app, client, headers, args.requests)
            return
        if args.locks:
            hold_times(app, client, headers, args.path, args.requests)
        if args.batches:
            cpu_batches(app, client, headers, args.path, max(args.requests // 7, 20))
            if args.tell:
                tell_times(app)
            return
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


if __name__ == "__main__":
    main()
