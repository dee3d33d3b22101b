"""Ingest's COPY writer, measured: the product's against the alternatives (issue 18 item 3).

    .venv/bin/python bench/catalogue/ingest_copy.py --data /tmp/dinamis-bench/1000000-42 \\
        --variant product --variant handtext --variant binary --loads 2

Each load is its own process (`--one`), into a fresh scratch database
(`bench_ingest_copy`, dropped at the end), through `dinamis.catalogue.ingest.ingest`
with a commit every 100,000 items as `dinamis catalogue ingest` runs it (no VACUUM).
Variants, alternating from load to load:

- product:  what `ingest.py` does today (psycopg's `copy.write_row`, text format,
            from the writer thread).
- handtext: the hand-written COPY text of before (`_copy_text`, one line a row
            joined in the reading thread; the writer thread sends the bytes).
- binary:   `copy.write_row` in binary format (`set_types`; the footprint as EWKB
            bytes, JSONB with its version byte), from the writer thread.

Per load: wall time, the process's CPU (the reading thread and the writer
thread together), the PostgreSQL backend's CPU (from /proc), peak RSS, load
average. Results: bench/catalogue/results/ingest-copy-<items>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

NAME = "bench_ingest_copy"
SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def _handtext_loader(ingest: Any) -> type:
    """The loader of before: COPY text formatted in Python, one line a row."""

    def copy_text(value: Any) -> str:
        if value is None:
            return "\\N"
        if type(value) is str:
            text = value
        elif isinstance(value, dt.datetime):
            text = value.isoformat()
        else:
            text = str(value)  # an int, a Decimal (finite: checked)
        if "\\" in text or "\n" in text or "\r" in text or "\t" in text:
            text = (
                text.replace("\\", "\\\\")
                .replace("\n", "\\n")
                .replace("\r", "\\r")
                .replace("\t", "\\t")
            )
        return text

    class HandText(ingest._Loader):  # type: ignore[misc,name-defined]
        def add(self, row: dict[str, Any]) -> None:
            self.seq += 1
            row["seq"] = self.seq
            self.rows.append(
                "\t".join([copy_text(row[column]) for column in ingest.STAGING]) + "\n"
            )
            if len(self.rows) >= ingest.BATCH:
                self._send()

        def _copy(self, rows: list[Any]) -> None:
            data = "".join(rows).encode()
            with self.raw.cursor() as cursor, cursor.copy(ingest.COPY) as copy:
                copy.write(data)

    return HandText


def _binary_loader(ingest: Any) -> type:
    """`copy.write_row` in binary: typed columns, EWKB bytes for the footprint."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class Ewkb(bytes):
        pass

    class JsonText(str):
        pass

    class Binary(ingest._Loader):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            oids = dict(
                self.raw.execute(
                    "SELECT typname, oid FROM pg_type WHERE typname IN ('geometry', 'jsonb')"
                ).fetchall()
            )

            class EwkbDumper(Dumper):
                format = Format.BINARY
                oid = oids["geometry"]

                def dump(self, obj: Any) -> bytes:
                    return bytes(obj)

            class JsonbDumper(Dumper):
                format = Format.BINARY
                oid = oids["jsonb"]

                def dump(self, obj: Any) -> bytes:
                    return b"\x01" + obj.encode()

            self.raw.adapters.register_dumper(Ewkb, EwkbDumper)
            self.raw.adapters.register_dumper(JsonText, JsonbDumper)
            numeric = ingest.NUMERIC
            self.types = [
                "int8",
                "text",
                "text",
                "timestamptz",
                oids["geometry"],
                oids["jsonb"],
                oids["jsonb"],
                "text",
                oids["jsonb"],
                *("numeric" if c in numeric else "text" for c in ingest.COLUMNS.values()),
            ]
            self.json_columns = {"properties", "assets", "stac_extensions"}

        def add(self, row: dict[str, Any]) -> None:
            self.seq += 1
            row["seq"] = self.seq
            row["footprint"] = Ewkb(bytes.fromhex(row["footprint"]))
            for column in self.json_columns:
                row[column] = JsonText(row[column])
            self.rows.append(tuple([row[column] for column in ingest.STAGING]))
            if len(self.rows) >= ingest.BATCH:
                self._send()

        def _copy(self, rows: list[Any]) -> None:
            with (
                self.raw.cursor() as cursor,
                cursor.copy(
                    ingest.COPY.replace("FROM STDIN", "FROM STDIN (FORMAT BINARY)")
                ) as copy,
            ):
                copy.set_types(self.types)
                for row in rows:
                    copy.write_row(row)

    return Binary


def one(variant: str, files: list[Path], url: str) -> dict[str, Any]:
    """One load in this process; its measurements."""
    from dinamis import create_app
    from dinamis.catalogue import ingest as ingest_module
    from dinamis.core.transaction import commit
    from dinamis.extensions import db

    if variant == "handtext":
        ingest_module._Loader = _handtext_loader(ingest_module)  # type: ignore[misc]
    elif variant == "binary":
        ingest_module._Loader = _binary_loader(ingest_module)  # type: ignore[misc]
    app = create_app({"database_url": url, "log_level": "WARNING", "log_json": False})
    with app.app_context():
        backend = db.session.execute(sql_text("SELECT pg_backend_pid()")).scalar_one()
        before_backend = _proc_cpu(backend)
        load = os.getloadavg()[0]
        cpu = time.process_time()
        started = time.perf_counter()
        report = ingest_module.ingest(files, checkpoint=commit)  # as the CLI runs it
        commit()
        took = time.perf_counter() - started
        python_cpu = time.process_time() - cpu
        backend_cpu = _proc_cpu(backend) - before_backend
        count, digest = db.session.execute(sql_text(CHECKSUM)).one()
        commit()
    return {
        "variant": variant,
        "seconds": took,
        "python_cpu": python_cpu,
        "backend_cpu": backend_cpu,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "items": report.items,
        "errors": len(report.errors),
        "rows": count,
        "checksum": str(digest),
        "load_average": [load, os.getloadavg()[0]],
    }


# What was stored, every column but updated_at: the same for every variant.
CHECKSUM = (
    "SELECT count(*), sum(hashtextextended(concat_ws('|', id, collection_id, datetime,"
    " footprint, properties, assets, quicklook, stac_extensions, platform, constellation,"
    " cloud_cover, incidence_angle, sun_elevation, sun_azimuth, gsd, processing_level,"
    " spectral_mode, stereo_group), 0)) FROM scenes"
)


def sql_text(statement: str) -> Any:
    from sqlalchemy import text

    return text(statement)


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process on this machine (the PostgreSQL backend)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fresh_database() -> str:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(NAME))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(NAME)))
    with psycopg.connect(f"{SERVER}/{NAME}", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    url = f"{SERVER}/{NAME}".replace("postgresql://", "postgresql+psycopg://", 1)
    env = {**os.environ, "DATABASE_URL": url, "DINAMIS_LOG_LEVEL": "WARNING"}
    subprocess.run(  # noqa: S603
        [str(Path(sys.executable).parent / "dinamis"), "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="generate.py's output folder")
    parser.add_argument(
        "--variant", action="append", choices=["product", "handtext", "binary"], required=True
    )
    parser.add_argument("--loads", type=int, default=1, help="loads of each variant")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one load, JSON to stdout
    args = parser.parse_args()
    files = [args.data / "collections.ndjson", args.data / "items.ndjson"]
    if args.one:
        print(json.dumps(one(args.one, files, os.environ["DATABASE_URL"])))
        return
    results: list[dict[str, Any]] = []
    try:
        for repeat in range(args.loads):
            order = args.variant if repeat % 2 == 0 else args.variant[::-1]
            for variant in order:
                url = _fresh_database()
                done = subprocess.run(  # noqa: S603
                    [
                        sys.executable,
                        __file__,
                        "--data",
                        str(args.data),
                        "--variant",
                        variant,
                        "--one",
                        variant,
                    ],
                    env={**os.environ, "DATABASE_URL": url},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(json.dumps(results[-1]), file=sys.stderr)
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(NAME))
            )
    items = results[0]["items"] if results else 0
    out = Path(__file__).resolve().parent / "results" / f"ingest-copy-{items}.json"
    out.write_text(
        json.dumps(
            {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "loads": results},
            indent=1,
        )
        + "\n"
    )
    for variant in args.variant:
        mine = [r for r in results if r["variant"] == variant]
        print(
            f"{variant}: "
            + ", ".join(
                f"{r['seconds']:.1f} s (Python {r['python_cpu']:.1f} s, PostgreSQL "
                f"{r['backend_cpu']:.1f} s, {r['peak_rss_kib'] / 1024:.0f} MiB, "
                f"load {r['load_average'][0]:.1f}-{r['load_average'][1]:.1f}, "
                f"checksum {r['checksum']})"
                for r in mine
            )
        )


if __name__ == "__main__":
    main()
