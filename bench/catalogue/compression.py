"""What compressing a STAC answer costs and saves: compare.py's queries, first pages.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
        .venv/bin/python bench/catalogue/compression.py --repeat 40

In-process (Flask's test client), against a database already loaded. For each
query, the first page is asked `repeat` times without Accept-Encoding and with
each algorithm the app offers, in turn (so that the machine's load falls on all
alike); printed: the answer's size, and for each algorithm the compressed size,
the CPU it adds (median of the request's CPU time less the plain request's), and
the transfer time it saves at 100 and 10 Mbit/s. Compression pays when it adds
less CPU than it saves in transfer.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.catalogue.compare import QUERIES
from bench.catalogue.request_cpu import _get, bench_app

ENCODINGS = ("identity", "gzip", "br", "zstd")


def _cpu(client: Any, method: str, body: Any, encoding: str) -> tuple[float, int]:
    headers = {} if encoding == "identity" else {"Accept-Encoding": encoding}
    started = time.process_time()
    if method == "GET":
        query = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in body.items()}
        response = client.get("/stac/search", query_string=query, headers=headers)
    else:
        response = client.post("/stac/search", json=body, headers=headers)
    spent = time.process_time() - started
    assert response.status_code == 200, response.data[:300]
    assert response.headers.get("Content-Encoding", "identity") == encoding
    return spent, len(response.data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--only", help="the queries whose name contains this")
    args = parser.parse_args()
    app = bench_app()
    client = app.test_client()
    print(
        "| query | plain | "
        + " | ".join(f"{e} size, added CPU, saved at 100 / 10 Mbit/s" for e in ENCODINGS[1:])
        + " |"
    )
    print("|---|---:|" + "---:|" * (len(ENCODINGS) - 1))
    for name, (method, body, _pages) in QUERIES.items():
        if args.only and args.only.lower() not in name.lower():
            continue
        _get(client, method, body)  # warm
        times: dict[str, list[float]] = {e: [] for e in ENCODINGS}
        sizes: dict[str, int] = {}
        for _ in range(args.repeat):
            for encoding in ENCODINGS:
                spent, sizes[encoding] = _cpu(client, method, body, encoding)
                times[encoding].append(spent)
        plain = statistics.median(times["identity"])
        cells = [f"{sizes['identity'] / 1024:.1f} kB, {plain * 1e3:.2f} ms"]
        for encoding in ENCODINGS[1:]:
            added = (statistics.median(times[encoding]) - plain) * 1e3
            saved = sizes["identity"] - sizes[encoding]
            fast, slow = saved * 8 / 100e6 * 1e3, saved * 8 / 10e6 * 1e3
            cells.append(
                f"{sizes[encoding] / 1024:.1f} kB, {added:+.2f} ms, {fast:.2f} / {slow:.1f} ms"
            )
        print(f"| {name} | " + " | ".join(cells) + " |")
    with open("/proc/loadavg") as handle:
        print("\nload average", " ".join(handle.read().split()[:3]))


if __name__ == "__main__":
    main()
