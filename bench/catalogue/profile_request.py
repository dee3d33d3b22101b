"""cProfile of STAC search requests in-process (Flask's test client).

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
        .venv/bin/python bench/catalogue/profile_request.py --repeat 300 [--sort tottime]

Runs the France bbox + one year search `--repeat` times and prints the top of
the profile (read only: the database is not changed).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from bench.catalogue.request_cpu import bench_app

BODY = {
    "bbox": [-5.2, 41.3, 9.6, 51.1],
    "datetime": "2023-01-01T00:00:00Z/2023-12-31T23:59:59Z",
    "limit": 20,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--lines", type=int, default=60)
    args = parser.parse_args()
    app = bench_app()
    client = app.test_client()
    for _ in range(5):
        assert client.post("/stac/search", json=BODY).status_code == 200
    profile = cProfile.Profile(time.process_time)  # CPU, not waits on the database
    profile.enable()
    for _ in range(args.repeat):
        client.post("/stac/search", json=BODY)
    profile.disable()
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.lines)


if __name__ == "__main__":
    main()
