#!/usr/bin/env python3
"""Make sure a PostgreSQL server with PostGIS is reachable for Dinamis.

Used by `make run` and `make test`:

    ensure_db.py --database   the database named by DATABASE_URL exists and has postgis
    ensure_db.py --probe      the server can create the postgis extension (for tests)

When DATABASE_URL is unset, the local server on 127.0.0.1:5432 is used with
the role `dinamis` (password `dinamis`, local development only), created with
the server's administrator account (`postgres`, over TCP when it trusts
local connections, otherwise through the `postgres` system user). When the
machine has no PostgreSQL server and we are root, Debian's packages are
installed and the cluster started. When PostGIS is missing, Debian's
`postgresql-<major>-postgis-3` for the server's own major version is
installed (root only, non-interactive).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_URL = "postgresql://dinamis:dinamis@127.0.0.1:5432/dinamis"
LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


def say(message: str) -> None:
    print(f"[ensure-db] {message}", flush=True)


def fail(message: str) -> None:
    print(f"[ensure-db] error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def apt_install(*packages: str) -> None:
    if not is_root():
        fail(
            f"missing Debian package(s) {' '.join(packages)}; install them "
            f"(sudo apt-get install {' '.join(packages)}) or run as root."
        )
    say(f"installing {' '.join(packages)} (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, stdin=subprocess.DEVNULL, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        check=True,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def try_connect(url: str) -> psycopg.Connection | None:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        return None


def server_listening(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def start_local_server() -> None:
    """Install (if needed) and start Debian's PostgreSQL cluster."""
    if shutil.which("pg_ctlcluster") is None or not os.path.isdir("/etc/postgresql"):
        apt_install("postgresql", "postgresql-contrib")
    versions = sorted(os.listdir("/etc/postgresql"))
    if not versions:
        fail("PostgreSQL is installed but has no cluster in /etc/postgresql.")
    version = versions[-1]
    say(f"starting PostgreSQL {version}")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
        check=False,
        stdin=subprocess.DEVNULL,
    )
    for _ in range(30):
        if server_listening("127.0.0.1", 5432):
            return
        time.sleep(1)
    fail("the local PostgreSQL server did not start on 127.0.0.1:5432.")


def admin_sql(statement: str) -> None:
    """Run one statement as the server's administrator."""
    conn = try_connect("postgresql://postgres@127.0.0.1:5432/postgres")
    if conn is not None:
        with conn:
            conn.execute(statement.encode())
        return
    if is_root() and shutil.which("runuser"):
        subprocess.run(
            ["runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-qc", statement],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        return
    fail(
        "cannot reach PostgreSQL as its administrator to create the role `dinamis`; "
        "create it yourself (CREATE ROLE dinamis LOGIN SUPERUSER PASSWORD 'dinamis') "
        "or set DATABASE_URL."
    )


def ensure_reachable(url: str, managed: bool) -> None:
    parts = urlsplit(url)
    if try_connect(with_database(url, "postgres")) is not None:
        return
    if not managed:
        fail(f"cannot connect to the server named by DATABASE_URL ({parts.hostname}:{parts.port}).")
    if not server_listening(parts.hostname or "", parts.port or 5432):
        start_local_server()
    say("creating the development role `dinamis`")
    admin_sql(
        "DO $$ BEGIN "
        "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dinamis') THEN "
        "CREATE ROLE dinamis LOGIN SUPERUSER PASSWORD 'dinamis'; END IF; END $$;"
    )
    if try_connect(with_database(url, "postgres")) is None:
        fail("the role `dinamis` exists but cannot sign in over 127.0.0.1:5432.")


def ensure_database(url: str, name: str) -> None:
    conn = try_connect(with_database(url, "postgres"))
    assert conn is not None
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            say(f"creating database {name}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def ensure_postgis(url: str, managed: bool) -> None:
    conn = try_connect(url)
    if conn is None:
        fail(f"cannot connect to {urlsplit(url).path.lstrip('/')}.")
    with conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            return
        except psycopg.errors.InsufficientPrivilege:
            fail("the database role may not create the postgis extension; ask an administrator.")
        except psycopg.Error as exc:
            if "postgis" not in str(exc).lower() and "extension" not in str(exc).lower():
                raise
            major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
    host = urlsplit(url).hostname or ""
    if host not in LOCAL_HOSTS:
        fail(f"PostGIS is not installed on the server {host}; install it there.")
    apt_install(f"postgresql-{major}-postgis-3")
    conn = try_connect(url)
    assert conn is not None
    with conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    say("postgis ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--database", action="store_true")
    group.add_argument("--probe", action="store_true")
    args = parser.parse_args()

    given = os.environ.get("DATABASE_URL", "")
    managed = not given
    url = libpq(given or DEFAULT_URL)
    ensure_reachable(url, managed)
    if args.database:
        name = urlsplit(url).path.lstrip("/") or "dinamis"
        ensure_database(url, name)
        ensure_postgis(url, managed)
    else:
        probe = "dinamis_postgis_probe"
        ensure_database(url, probe)
        try:
            ensure_postgis(with_database(url, probe), managed)
        finally:
            conn = try_connect(with_database(url, "postgres"))
            if conn is not None:
                with conn:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(probe))
                    )
    say("PostgreSQL with PostGIS is ready")


if __name__ == "__main__":
    main()
