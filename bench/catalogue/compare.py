"""Dinamis's STAC API side by side with stac-fastapi-pgstac + pgstac, on the same data.

    .venv/bin/python bench/catalogue/compare.py --scenes 1000000

Phases (default: all of them, in this order):
- load:   generate the catalogue (bench/catalogue/generate.py), load it into a
          scratch Dinamis database (`dinamis db upgrade`, `dinamis catalogue
          ingest`) and a scratch pgstac database (`pypgstac migrate`, `pypgstac
          load`), timing both ingests; ANALYZE; `pg_database_size`.
- search: start both servers (gunicorn for Dinamis, one uvicorn worker with
          USE_API_HYDRATE=true for stac-fastapi-pgstac), check that both answer
          each query alike, then time first pages and next pages (following the
          `next` link) per query, the two servers interleaved query by query
          with their order alternating, then requests/s with concurrent clients
          for a mixed set, in alternating blocks.
- report: print the markdown tables from the results file.
- drop:   drop both scratch databases (and the pgstac roles `pypgstac migrate`
          made, when nothing else uses them). Skipped with --keep.

Results go to bench/catalogue/results/compare-<scenes>.json. The client is
this process (threads on http.client, keep-alive), on the same machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

sys.path.insert(0, str(ROOT))
from bench.revisions import extract  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PGSTAC_BIN = Path(os.environ.get("PGSTAC_VENV", "/work/pgstac-venv")) / "bin"
PG_ROLES = ("pgstac_admin", "pgstac_ingest", "pgstac_read")

FRANCE = [-5.2, 41.3, 9.6, 51.1]
CLOUD_10_INCIDENCE_20 = {
    "op": "and",
    "args": [
        {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 10]},
        {"op": "<=", "args": [{"property": "view:incidence_angle"}, 20]},
    ],
}
# A département-sized polygon (roughly the Gironde), eleven vertices.
GIRONDE = {
    "type": "Polygon",
    "coordinates": [
        [
            [-1.26, 45.57],
            [-0.73, 45.45],
            [-0.25, 45.11],
            [0.30, 45.00],
            [0.10, 44.60],
            [0.05, 44.25],
            [-0.35, 44.20],
            [-0.95, 44.28],
            [-1.25, 44.43],
            [-1.20, 44.70],
            [-1.26, 45.57],
        ]
    ],
}


def _year(year: int) -> str:
    return f"{year}-01-01T00:00:00Z/{year}-12-31T23:59:59Z"


# name -> (method, parameters, pages walked: the first, then `next` links)
QUERIES: dict[str, tuple[str, dict[str, Any], int]] = {
    "newest scenes, no filter": ("POST", {"limit": 20}, 5),
    "small bbox (Toulouse), GET": ("GET", {"bbox": [1.35, 43.55, 1.55, 43.70], "limit": 20}, 5),
    "France bbox + one year": ("POST", {"bbox": FRANCE, "datetime": _year(2023), "limit": 20}, 5),
    "polygon (a département)": ("POST", {"intersects": GIRONDE, "limit": 20}, 5),
    "point (Toulouse: which scenes cover my site?)": (
        "POST",
        {"intersects": {"type": "Point", "coordinates": [1.444, 43.604]}, "limit": 20},
        5,
    ),
    "point far from the data (Kerguelen)": (
        "POST",
        {"intersects": {"type": "Point", "coordinates": [70.22, -49.35]}, "limit": 20},
        5,
    ),
    "island far from the mass (Mayotte), sorted by cloud cover": (
        "POST",
        {
            "bbox": [44.95, -13.05, 45.35, -12.6],
            "sortby": [{"field": "properties.eo:cloud_cover", "direction": "asc"}],
            "limit": 20,
        },
        5,
    ),
    "dense city (Paris) + two years, sorted by date": (
        "POST",
        {
            "bbox": [2.25, 48.80, 2.45, 48.92],
            "datetime": "2021-01-01T00:00:00Z/2022-12-31T23:59:59Z",
            "sortby": [{"field": "properties.datetime", "direction": "desc"}],
            "limit": 20,
        },
        5,
    ),
    "Brittany + dates + collection + cloud/angle (CQL2)": (
        "POST",
        {
            "bbox": [-5.0, 47.3, -1.0, 48.9],
            "datetime": "2018-01-01T00:00:00Z/2024-12-31T23:59:59Z",
            "collections": ["pleiades"],
            "filter": CLOUD_10_INCIDENCE_20,
            "filter-lang": "cql2-json",
            "limit": 20,
        },
        5,
    ),
    "Alps + dates, sorted by cloud cover": (
        "POST",
        {
            "bbox": [5.8, 44.8, 7.4, 46.2],
            "datetime": "2022-01-01T00:00:00Z/2024-12-31T23:59:59Z",
            "sortby": [{"field": "properties.eo:cloud_cover", "direction": "asc"}],
            "limit": 20,
        },
        5,
    ),
    "Africa box + cloud ≤ 20 (CQL2)": (
        "POST",
        {
            "bbox": [-20.0, -35.0, 52.0, 38.0],
            "filter": {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 20]},
            "filter-lang": "cql2-json",
            "limit": 20,
        },
        5,
    ),
    "one collection, one year": (
        "POST",
        {"collections": ["pleiades-neo"], "datetime": _year(2024), "limit": 20},
        5,
    ),
    "France bbox, 100 a page": ("POST", {"bbox": FRANCE, "limit": 100}, 5),
    "deep pagination (Paris region, 30 pages)": (
        "POST",
        {"bbox": [1.4, 48.1, 3.6, 49.3], "limit": 20},
        30,
    ),
}


# --- the PostgreSQL side -------------------------------------------------------------------


def server_url() -> str:
    return os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def db_url(name: str) -> str:
    return f"{server_url()}/{name}"


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(db_url("postgres"), autocommit=True)


def recreate(name: str) -> None:
    with admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop(name: str) -> None:
    with admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def analyse_and_size(name: str) -> int:
    """VACUUM ANALYZE (statistics, and hint bits set once rather than by the first searches)."""
    with psycopg.connect(db_url(name), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        assert row is not None
        return int(row[0])


def run(command: list[str], env: dict[str, str] | None = None) -> float:
    """Run a command to completion; its wall time in seconds, or exit with its output.

    The command's peak resident memory (KiB, from wait4) goes into PEAK_RSS.
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(  # noqa: S603
            command, env={**os.environ, **(env or {})}, stdout=out, stderr=err
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        took = time.perf_counter() - started
        PEAK_RSS.append(usage.ru_maxrss)
        if process.returncode != 0:
            out.seek(0)
            err.seek(0)
            sys.exit(
                f"failed: {' '.join(command)}\n{out.read()[-3000:].decode(errors='replace')}"
                f"\n{err.read()[-3000:].decode(errors='replace')}"
            )
    return took


PEAK_RSS: list[int] = []


def dinamis_env(name: str) -> dict[str, str]:
    url = db_url(name).replace("postgresql://", "postgresql+psycopg://", 1)
    return {"DATABASE_URL": url, "DINAMIS_LOG_LEVEL": "WARNING", "DINAMIS_LOG_JSON": "false"}


def load_dinamis(name: str, files: tuple[Path, Path]) -> dict[str, Any]:
    recreate(name)
    with psycopg.connect(db_url(name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    env = dinamis_env(name)
    run([str(VENV_BIN / "dinamis"), "db", "upgrade"], env)
    before = os.getloadavg()[0]
    took = run([str(VENV_BIN / "dinamis"), "catalogue", "ingest", *map(str, files)], env)
    return {
        "seconds": took,
        "bytes": analyse_and_size(name),
        "peak_rss_kib": PEAK_RSS[-1],
        "load_average": [before, os.getloadavg()[0]],
    }


def load_pgstac(name: str, files: tuple[Path, Path], method: str) -> dict[str, Any]:
    recreate(name)
    dsn = db_url(name)
    pypgstac = str(PGSTAC_BIN / "pypgstac")
    run([pypgstac, "migrate", "--dsn", dsn])
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")
        # Typed queryables, so that CQL2 compares these as numbers (no extra index:
        # Dinamis has none on them either).
        for prop in ("eo:cloud_cover", "view:incidence_angle"):
            conn.execute(
                "INSERT INTO pgstac.queryables (name, definition, property_wrapper)"
                " VALUES (%s, %s, 'to_float')",
                (prop, json.dumps({"type": "number"})),
            )
    before = os.getloadavg()[0]
    took = run([pypgstac, "load", "collections", str(files[0]), "--dsn", dsn, "--method", method])
    took += run([pypgstac, "load", "items", str(files[1]), "--dsn", dsn, "--method", method])
    return {
        "seconds": took,
        "bytes": analyse_and_size(name),
        "method": method,
        "peak_rss_kib": PEAK_RSS[-1],
        "load_average": [before, os.getloadavg()[0]],
    }


def count_rows(ours: str, theirs: str) -> dict[str, int]:
    with psycopg.connect(db_url(ours)) as conn:
        mine = conn.execute("SELECT count(*) FROM scenes").fetchone()
    with psycopg.connect(db_url(theirs)) as conn:
        other = conn.execute("SELECT count(*) FROM pgstac.items").fetchone()
    assert mine is not None and other is not None
    return {"dinamis": int(mine[0]), "pgstac": int(other[0])}


# --- the servers -----------------------------------------------------------------------------


class Server:
    def __init__(
        self, label: str, base: str, command: list[str], env: dict[str, str], cwd: Path = ROOT
    ) -> None:
        self.label, self.base, self.command, self.env = label, base, command, env
        self.cwd = cwd  # gunicorn puts the directory it starts in first on sys.path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, log: Path) -> None:
        with log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603
                self.command,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.cwd,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with suppress(OSError, http.client.HTTPException):
                status, _body, _t = Client(self.base).call("GET", self.base)
                if status == 200:
                    return
            if self.process.poll() is not None:
                sys.exit(f"{self.label} did not start; see {log}")
            time.sleep(0.5)
        sys.exit(f"{self.label} did not answer within 60 s; see {log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def gunicorn(
    label: str, code: Path, database: str, workers: int, threads: int, port: int
) -> Server:
    """Dinamis from the code at `code` (this tree, or a revision's extracted copy) under
    gunicorn, as bench/catalogue/wsgi.py builds it."""
    env = {
        **dinamis_env(database),
        "DINAMIS_BASE_URL": f"http://127.0.0.1:{port}",
        # that tree's package, not the one the virtualenv may have installed elsewhere
        "PYTHONPATH": str(code),
    }
    return Server(
        label,
        f"http://127.0.0.1:{port}/stac",
        [
            str(VENV_BIN / "gunicorn"),
            "--chdir",
            str(code / "bench" / "catalogue"),
            "-k",
            "gthread",
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{port}",
            "wsgi:app",
        ],
        env,
        cwd=code,
    )


def servers(
    ours: str,
    theirs: str,
    workers: int,
    threads: int,
    ports: tuple[int, int],
    before: dict[str, Path] | None = None,
    pgstac: bool = True,
) -> list[Server]:
    """Dinamis (this tree), each earlier revision of `before` (label: its code) on the
    ports after pgstac's, and pgstac."""
    mine, other = ports
    served = [gunicorn("dinamis", ROOT, ours, workers, threads, mine)]
    for k, (label, code) in enumerate((before or {}).items()):
        served.append(gunicorn(label, code, ours, workers, threads, other + 1 + k))
    if not pgstac:
        return served
    return [
        *served,
        Server(
            "pgstac",
            f"http://127.0.0.1:{other}",
            [
                str(PGSTAC_BIN / "uvicorn"),
                "stac_fastapi.pgstac.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(other),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            {
                "PGUSER": "postgres",
                "PGPASSWORD": "postgres",  # trust authentication: not checked
                "PGHOST": "127.0.0.1",
                "PGPORT": "5432",
                "PGDATABASE": theirs,
                "USE_API_HYDRATE": "true",
            },
        ),
    ]


@contextmanager
def running(pair: list[Server], logs: Path) -> Iterator[None]:
    try:
        for server in pair:
            server.start(logs / f"{server.label}.log")
        yield
    finally:
        for server in pair:
            server.stop()


# --- the client ------------------------------------------------------------------------------


class Client:
    """One keep-alive connection to one server; reconnects when the server closes it."""

    def __init__(self, base: str) -> None:
        self.parts = urllib.parse.urlsplit(base)
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, url: str, body: Any = None) -> tuple[int, bytes, float]:
        target = urllib.parse.urlsplit(url)
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/geo+json, application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.parts.hostname or "", self.parts.port, timeout=120
                )
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            took = time.perf_counter() - started
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return response.status, data, took
        raise AssertionError("unreachable")


def first_request(base: str, method: str, params: dict[str, Any]) -> tuple[str, str, Any]:
    if method == "POST":
        return "POST", base + "/search", params
    flat = {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in params.items()}
    return "GET", base + "/search?" + urllib.parse.urlencode(flat), None


def next_request(page: dict[str, Any], previous: Any) -> tuple[str, str, Any] | None:
    for link in page.get("links", []):
        if link.get("rel") == "next":
            method = link.get("method", "GET").upper()
            body = link.get("body")
            if method == "POST" and link.get("merge") and isinstance(previous, dict):
                body = {**previous, **(body or {})}
            return method, link["href"], body
    return None


def walk(client: Client, base: str, method: str, params: dict[str, Any], pages: int) -> list[Any]:
    """Request the first page and follow `next` up to `pages` pages: [(seconds, ids), ...]."""
    request: tuple[str, str, Any] | None = first_request(base, method, params)
    result = []
    while request is not None and len(result) < pages:
        status, data, took = client.call(*request)
        if status != 200:
            raise RuntimeError(f"{base}: HTTP {status} {data[:300]!r} for {request}")
        page = json.loads(data)
        result.append((took, [_summary(f) for f in page["features"]]))
        request = next_request(page, request[2])
    return result


def _summary(feature: dict[str, Any]) -> str:
    """What two servers must agree on for an item: its id, collection, date and cloud cover.

    The id is first, so that comparing summaries in order compares the ids in order.
    """
    props = feature.get("properties") or {}
    when = str(props.get("datetime", "")).replace("+00:00", "Z")
    if when.endswith("Z") and "." in when:  # one instant, however many digits of a second
        head, fraction = when[:-1].split(".")
        fraction = fraction.rstrip("0")
        when = f"{head}.{fraction}Z" if fraction else f"{head}Z"
    return f"{feature.get('id')}|{feature.get('collection')}|{when}|{props.get('eo:cloud_cover')}"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def latency(
    pair: list[Server], rounds: int, queries: dict[str, Any], warm: int = 0
) -> dict[str, Any]:
    """Per query, first and next page times, the servers interleaved query by query.

    In each round each query is asked of every server one after the other, the order
    turning from query to query and round to round. Round 0 warms up and compares the
    answers: pgstac's, and an earlier revision's, with this tree's. A server that refuses
    a query (an earlier revision without point searches) is left out of that query.

    Then `warm` rounds, not measured, ask each query's first two pages of the Dinamis
    servers (this tree and earlier revisions), one after the other: a statement Dinamis
    keeps the plan of (search.KEPT_PLANS) is prepared after five runs on a connection and
    planned five times more for its values before PostgreSQL keeps its plan, and a
    server's pool alternates between its connections; a server in service is past that
    after its first minutes. (pgstac's answers are read by its own SQL functions, whose
    statements are planned at every call: nothing of it warms that way.)
    """
    clients = {s.label: Client(s.base) for s in pair}
    times: dict[str, dict[str, dict[str, list[float]]]] = {
        q: {s.label: {"first": [], "next": []} for s in pair} for q in queries
    }
    checks: dict[str, Any] = {}
    agree: dict[str, dict[str, Any]] = {}  # an earlier revision against this tree
    refused: dict[str, list[str]] = {q: [] for q in queries}
    load: list[float] = []
    for number in range(rounds + 1):  # round 0 warms up and compares the answers
        for index, (name, (method, params, pages)) in enumerate(queries.items()):
            turn = (number + index) % len(pair)
            order = pair[turn:] + pair[:turn]
            if (number + index) % 2:
                order.reverse()
            walked = {}
            for server in order:
                if server.label in refused[name]:
                    continue
                try:
                    walked[server.label] = walk(
                        clients[server.label], server.base, method, params, pages
                    )
                except RuntimeError as refusal:
                    if number or server.label in ("dinamis", "pgstac"):
                        raise
                    print(f"{server.label} refuses {name!r}: {refusal}", file=sys.stderr)
                    refused[name].append(server.label)
            if number == 0:
                if "pgstac" in walked:
                    checks[name] = _compare(walked)
                agree[name] = {
                    label: _compare({"dinamis": walked["dinamis"], "pgstac": pages_seen})
                    for label, pages_seen in walked.items()
                    if label not in ("dinamis", "pgstac")
                }
                continue
            for label, pages_seen in walked.items():
                times[name][label]["first"].append(pages_seen[0][0])
                times[name][label]["next"].extend(t for t, _ids in pages_seen[1:])
        load.append(os.getloadavg()[0])
        print(f"round {number}/{rounds} done (load {load[-1]:.1f})", file=sys.stderr)
        for _warming in range(warm if number == 0 else 0):
            for name, (method, params, pages) in queries.items():
                for server in pair:
                    if server.label != "pgstac" and server.label not in refused[name]:
                        walk(clients[server.label], server.base, method, params, min(pages, 2))
    return {
        "times": times,
        "checks": checks,
        "before_checks": agree,
        "refused": refused,
        "load_average": load,
    }


def _compare(walked: dict[str, list[Any]]) -> dict[str, Any]:
    """Both servers' pages, item by item (id, collection, datetime, cloud cover), in order."""
    ours, theirs = walked["dinamis"], walked["pgstac"]
    ids = [[[s.split("|")[0] for s in items] for _t, items in side] for side in (ours, theirs)]
    differing = [
        f"page {n + 1} item {k + 1}: {a} / {b}"
        for n, (mine, other) in enumerate(zip(ours, theirs, strict=False))
        for k, (a, b) in enumerate(zip(mine[1], other[1], strict=False))
        if a != b
    ]
    return {
        "pages": [len(ours), len(theirs)],
        "returned": [sum(len(items) for _t, items in ours), sum(len(i) for _t, i in theirs)],
        "same_first_page": ids[0][0] == ids[1][0],
        "same_first_page_set": sorted(ids[0][0]) == sorted(ids[1][0]),
        "same_all_pages": ids[0] == ids[1],
        "same_items": [items for _t, items in ours] == [items for _t, items in theirs],
        "differing": differing[:10],
    }


def throughput(
    pair: list[Server], clients: int, seconds: float, blocks: int, queries: dict[str, Any]
) -> dict[str, Any]:
    """Requests/s with `clients` threads, each asking a first page and its next page in turn."""
    mix = list(queries.values())
    result: dict[str, Any] = {s.label: {"requests": 0, "seconds": 0.0, "errors": 0} for s in pair}
    samples: dict[str, list[float]] = {s.label: [] for s in pair}
    for block in range(blocks):
        for server in pair if block % 2 == 0 else pair[::-1]:
            counts = [0] * clients
            errors = [0] * clients
            lat: list[list[float]] = [[] for _ in range(clients)]
            deadline = time.perf_counter() + seconds

            def work(
                k: int,
                server: Server = server,
                deadline: float = deadline,
                counts: list[int] = counts,
                errors: list[int] = errors,
                lat: list[list[float]] = lat,
            ) -> None:
                client = Client(server.base)
                turn = k
                while time.perf_counter() < deadline:
                    method, params, _pages = mix[turn % len(mix)]
                    turn += 1
                    try:
                        for took, _ids in walk(client, server.base, method, params, 2):
                            counts[k] += 1
                            lat[k].append(took)
                    except (RuntimeError, OSError, http.client.HTTPException):
                        errors[k] += 1

            started = time.perf_counter()
            workers = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            elapsed = time.perf_counter() - started
            result[server.label]["requests"] += sum(counts)
            result[server.label]["seconds"] += elapsed
            result[server.label]["errors"] += sum(errors)
            samples[server.label].extend(t for part in lat for t in part)
            result[server.label].setdefault("load_average", []).append(os.getloadavg()[0])
            print(
                f"throughput block {block + 1}/{blocks} {server.label}: "
                f"{sum(counts) / elapsed:.1f} req/s",
                file=sys.stderr,
            )
    for label, entry in result.items():
        if not entry["seconds"]:
            continue
        entry["per_second"] = entry["requests"] / entry["seconds"]
        entry["p50"] = statistics.median(samples[label])
        entry["p95"] = percentile(samples[label], 0.95)
    return result


# --- the report ------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value * 1000:,.0f}" if value >= 0.1 else f"{value * 1000:,.1f}"


def report(results: dict[str, Any]) -> str:
    lines = []
    ingest = results.get("ingest")
    if ingest:
        ours, theirs = ingest["dinamis"], ingest["pgstac"]
        lines += [
            f"Ingest of {results['scenes']:,} scenes "
            f"(rows: Dinamis {ingest['rows']['dinamis']:,}, pgstac {ingest['rows']['pgstac']:,}):",
            "",
            "| | Dinamis | pgstac | ratio |",
            "|---|---:|---:|---:|",
            f"| ingest time (fastest of {len(ours.get('all_seconds', [0]))}) "
            f"| {ours['seconds']:,.0f} s | {theirs['seconds']:,.0f} s "
            f"| {ours['seconds'] / theirs['seconds']:.2f} |",
            f"| scenes/s | {results['scenes'] / ours['seconds']:,.0f} "
            f"| {results['scenes'] / theirs['seconds']:,.0f} | |",
            f"| database size | {ours['bytes'] / 2**20:,.0f} MiB "
            f"| {theirs['bytes'] / 2**20:,.0f} MiB | {ours['bytes'] / theirs['bytes']:.2f} |",
            "",
        ]
    search = results.get("search")
    if search:
        lines += _pgstac_tables(search) + _before_tables(search)
    return "\n".join(lines)


def _same(check: dict[str, Any]) -> str:
    return (
        "same items, every page"
        if check.get("same_items")
        else "same pages"
        if check["same_all_pages"]
        else "same page 1"
        if check["same_first_page"]
        else "same set on page 1"
        if check["same_first_page_set"]
        else f"differs ({check['returned'][0]} vs {check['returned'][1]} items)"
    )


def _pgstac_tables(search: dict[str, Any]) -> list[str]:
    times, checks = search["latency"]["times"], search["latency"]["checks"]
    if not checks:
        return []
    lines = [
        "Latency in ms (client side, whole response read); first page and next pages "
        f"(following `next`), {search['rounds']} interleaved rounds:",
        "",
        "| query | first p50 D / P | first p95 D / P | next p50 D / P | next p95 D / P "
        "| D first / P first | D next / D first | P next / P first | same answer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, by in times.items():
        d, p = by["dinamis"], by["pgstac"]
        cells = []
        for kind in ("first", "next"):
            for share in (0.5, 0.95):
                if d[kind] and p[kind]:
                    cells.append(
                        f"{_ms(percentile(d[kind], share))} / {_ms(percentile(p[kind], share))}"
                    )
                else:
                    cells.append("-")
        ratios = [statistics.median(d["first"]) / statistics.median(p["first"])]
        for side in (d, p):
            ratios.append(
                statistics.median(side["next"]) / statistics.median(side["first"])
                if side["next"]
                else float("nan")
            )
        check = checks[name]
        lines.append(
            f"| {name} | {' | '.join(cells)} | "
            + " | ".join(f"{r:.2f}" for r in ratios)
            + f" | {_same(check)} ({check['returned'][0]} items) |"
        )
    tp = search["throughput"]
    d, p = tp["dinamis"], tp["pgstac"]
    if "per_second" in d and "per_second" in p:
        lines += [
            "",
            f"Throughput, {search['clients']} concurrent clients, mixed first and next pages, "
            f"{search['blocks']} alternating blocks of {search['block_seconds']:.0f} s per server:",
            "",
            "| | Dinamis | pgstac | ratio |",
            "|---|---:|---:|---:|",
            f"| requests/s | {d['per_second']:.1f} | {p['per_second']:.1f} "
            f"| {d['per_second'] / p['per_second']:.2f} |",
            f"| latency p50 under load | {_ms(d['p50'])} ms | {_ms(p['p50'])} ms | |",
            f"| latency p95 under load | {_ms(d['p95'])} ms | {_ms(p['p95'])} ms | |",
            f"| errors | {d['errors']} | {p['errors']} | |",
        ]
    return lines


def _paired(now: list[float], before: list[float], rounds: int) -> list[float]:
    """Round by round, this tree's median over the round's pages / the earlier one's."""
    if not now or len(now) != len(before) or len(now) % rounds:
        return []
    size = len(now) // rounds
    return [
        statistics.median(now[r * size : (r + 1) * size])
        / statistics.median(before[r * size : (r + 1) * size])
        for r in range(rounds)
    ]


def _before_tables(search: dict[str, Any]) -> list[str]:
    """This tree against each earlier revision served in the same run: medians, and the
    ratio of each round's paired times (its median and quartiles; in how many rounds
    this tree was the slower)."""
    times = search["latency"]["times"]
    agree = search["latency"].get("before_checks", {})
    rounds = search["rounds"]
    lines: list[str] = []
    for label in search.get("before", {}):
        lines += [
            "",
            f"This tree (now) against {label} (before), same database, interleaved; ms, "
            f"medians of {rounds} rounds; now/before: median of the rounds' ratios "
            "[quartiles], rounds where now was slower:",
            "",
            "| query | first now / before | first now/before | slower | "
            "next now / before | next now/before | slower | same answer |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, by in times.items():
            now, then = by["dinamis"], by[label]
            if not then["first"]:
                lines.append(f"| {name} | (refused before) | | | | | | |")
                continue
            cells = []
            for kind in ("first", "next"):
                ratios = _paired(now[kind], then[kind], rounds)
                if not ratios:
                    cells += ["-", "-", "-"]
                    continue
                q1, _q2, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
                cells += [
                    f"{_ms(statistics.median(now[kind]))} / {_ms(statistics.median(then[kind]))}",
                    f"{statistics.median(ratios):.2f} [{q1:.2f}-{q3:.2f}]",
                    f"{sum(r > 1 for r in ratios)}/{len(ratios)}",
                ]
            check = agree.get(name, {}).get(label)
            same = f"{_same(check)} ({check['returned'][0]} items)" if check else "-"
            lines.append(f"| {name} | {' | '.join(cells)} | {same} |")
        tp = search["throughput"]
        d, b = tp.get("dinamis", {}), tp.get(label, {})
        if "per_second" in d and "per_second" in b:
            lines += [
                "",
                f"| requests/s, {search['clients']} clients | now {d['per_second']:.1f} "
                f"| before {b['per_second']:.1f} | {d['per_second'] / b['per_second']:.2f} |",
            ]
    if search.get("uptime"):
        lines += ["", "uptime: " + " → ".join(search["uptime"])]
    return lines


def versions(database: str) -> dict[str, str]:
    out = subprocess.run(  # noqa: S603
        [str(PGSTAC_BIN / "pip"), "list", "--format", "json"], capture_output=True, text=True
    )
    wanted = {"pypgstac", "stac-fastapi-pgstac", "stac-fastapi-api", "uvicorn", "fastapi"}
    found = {p["name"]: p["version"] for p in json.loads(out.stdout) if p["name"] in wanted}
    with psycopg.connect(db_url(database)) as conn:
        row = conn.execute("SELECT version(), postgis_lib_version()").fetchone()
    assert row is not None
    found["postgresql"] = row[0].split(" on ")[0]
    found["postgis"] = row[1]
    found["python"] = platform.python_version()
    found["cpus"] = str(os.cpu_count())
    return found


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()  # noqa: S607


def _describe(code: Path) -> str:
    """The revision an extracted copy was made from (its directory's name)."""
    return code.name.removeprefix("code-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", type=Path, default=Path("/tmp/dinamis-bench"))  # noqa: S108
    parser.add_argument("--phase", action="append", choices=["load", "search", "report", "drop"])
    parser.add_argument("--keep", action="store_true", help="keep the databases at the end")
    parser.add_argument("--pgstac-method", default="insert_ignore")
    parser.add_argument(
        "--loads", type=int, default=1, help="loads of each, alternating; the fastest is kept"
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (Dinamis)")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--warm",
        type=int,
        default=0,
        help="unmeasured rounds of each query's first two pages on the Dinamis servers,"
        " after round 0 (see latency)",
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--block-seconds", type=float, default=20)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--dinamis-port", type=int, default=8081)
    parser.add_argument("--pgstac-port", type=int, default=8082)
    parser.add_argument(
        "--results", type=Path, help="results file (default: results/compare-<scenes>.json)"
    )
    parser.add_argument(
        "--before",
        action="append",
        default=[],
        metavar="REVISION",
        help="also serve this git revision's code against the same Dinamis database,"
        " interleaved with the others (repeatable)",
    )
    parser.add_argument(
        "--only", action="append", default=[], help="only the queries whose name holds this"
    )
    parser.add_argument("--without-pgstac", action="store_true", help="serve Dinamis only")
    args = parser.parse_args()
    phases = args.phase or ["load", "search", "report", "drop"]
    if args.keep and "drop" in phases:
        phases.remove("drop")
    ours, theirs = f"bench_cmp_dinamis_{args.scenes}", f"bench_cmp_pgstac_{args.scenes}"
    out = args.results or HERE / "results" / f"compare-{args.scenes}.json"
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results.update(scenes=args.scenes, seed=args.seed)

    def save() -> None:
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")

    if "load" in phases:
        data = args.data / f"{args.scenes}-{args.seed}"
        files = (data / "collections.ndjson", data / "items.ndjson")
        if not files[1].exists():
            print(f"generating {args.scenes:,} scenes in {data}", file=sys.stderr)
            generate.write(data, args.scenes, args.seed)
        runs: dict[str, list[dict[str, Any]]] = {"dinamis": [], "pgstac": []}
        for repeat in range(args.loads):  # alternating which goes first
            for label in ("dinamis", "pgstac") if repeat % 2 == 0 else ("pgstac", "dinamis"):
                print(f"loading {label}", file=sys.stderr)
                if label == "dinamis":
                    runs[label].append(load_dinamis(ours, files))
                else:
                    runs[label].append(load_pgstac(theirs, files, args.pgstac_method))
                print(f"  {runs[label][-1]}", file=sys.stderr)
        dinamis, pgstac = (
            {
                **min(runs[label], key=lambda run: run["seconds"]),
                "all_seconds": [run["seconds"] for run in runs[label]],
            }
            for label in ("dinamis", "pgstac")
        )
        results["ingest"] = {
            "dinamis": dinamis,
            "pgstac": pgstac,
            "rows": count_rows(ours, theirs),
            "file_bytes": files[1].stat().st_size,
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        results["versions"] = versions(ours)
        save()
    if "search" in phases:
        served = subprocess.run(
            [sys.executable, "-c", "import dinamis; print(dinamis.__file__)"],
            cwd=HERE,  # as gunicorn imports it (--chdir HERE, PYTHONPATH this tree)
            env={**os.environ, **dinamis_env(ours), "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        commit = subprocess.run(  # noqa: S603
            ["git", "-C", str(Path(served).parent), "describe", "--always", "--dirty"],  # noqa: S607
            capture_output=True,
            text=True,
        ).stdout.strip()
        commit += f" ({Path(served).parents[1]})"
        before = {
            f"dinamis@{revision}": extract(revision, args.data / f"code-{revision}")
            for revision in args.before
        }
        pair = servers(
            ours,
            theirs,
            args.workers,
            args.threads,
            (args.dinamis_port, args.pgstac_port),
            before,
            pgstac=not args.without_pgstac,
        )
        queries = {
            name: query
            for name, query in QUERIES.items()
            if not args.only or any(part.lower() in name.lower() for part in args.only)
        }
        logs = args.data / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        uptime = [_uptime()]
        with running(pair, logs):
            lat = latency(pair, args.rounds, queries, args.warm)
            uptime.append(_uptime())
            mix = {q: v for q, v in queries.items() if not lat["refused"][q]}
            tp = throughput(pair, args.clients, args.block_seconds, args.blocks, mix)
            uptime.append(_uptime())
        results["search"] = {
            "latency": lat,
            "throughput": tp,
            "uptime": uptime,
            "before": {label: _describe(code) for label, code in before.items()},
            "rounds": args.rounds,
            "warm": args.warm,
            "clients": args.clients,
            "blocks": args.blocks,
            "block_seconds": args.block_seconds,
            "dinamis_server": f"gunicorn gthread, {args.workers} workers x {args.threads} threads",
            "pgstac_server": "uvicorn, 1 worker, USE_API_HYDRATE=true",
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "dinamis_commit": commit,
        }
        save()
    if "report" in phases:
        print(report(results))
    if "drop" in phases:
        drop(ours)
        drop(theirs)
        with admin() as conn:
            for role in PG_ROLES:
                with suppress(psycopg.Error):
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


if __name__ == "__main__":
    main()
