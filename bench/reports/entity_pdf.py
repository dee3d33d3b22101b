"""An entity's yearly PDF at volume, in-process: CPU time of its parts.

    .venv/bin/python bench/reports/entity_pdf.py --database NAME [--entity 2] [--runs 1]

Reads a database filled by bench/reports/generate.py (run.py --keep), never
writes to it. Prints, per run, the process CPU time (time.process_time) of
the whole entity_pdf() call and of its WeasyPrint part, the page count and
the number of SQL statements.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pypdf import PdfReader
from sqlalchemy import event

from dinamis import create_app
from dinamis.core import pdf
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.reports import yearly


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--entity", type=int, default=2)
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/x")
    app = create_app(
        {
            "database_url": base.rsplit("/", 1)[0] + "/" + args.database,
            "log_level": "WARNING",
            "log_json": False,
            "secret_key": "bench-secret-key-" + "x" * 32,
        }
    )
    spent = {"weasyprint": 0.0}
    html_to_pdf = pdf.html_to_pdf

    def timed(html: str) -> bytes:
        start = time.process_time()
        try:
            return html_to_pdf(html)
        finally:
            spent["weasyprint"] += time.process_time() - start

    pdf.html_to_pdf = timed
    with app.test_request_context(), app.app_context():
        statements = []
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(1))
        entity = db.session.get(Entity, args.entity)
        for _ in range(args.runs):
            spent["weasyprint"] = 0.0
            statements.clear()
            start = time.process_time()
            content = yearly.entity_pdf(entity, args.year)
            total = time.process_time() - start
            load = Path("/proc/loadavg").read_text()[:14]
            pages = len(PdfReader(io.BytesIO(content)).pages)
            print(
                f"entity {args.entity} {args.year}: {total:.2f} s CPU, of which WeasyPrint"
                f" {spent['weasyprint']:.2f} s; {pages} pages, {len(content) // 1024} kB,"
                f" {len(statements)} SQL statements; loadavg {load}"
            )
            db.session.rollback()


if __name__ == "__main__":
    main()
