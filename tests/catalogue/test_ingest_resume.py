"""A killed `dinamis catalogue ingest` run again: it resumes, nothing duplicated or lost.

The per-test rollback of tests/conftest.py is invisible to another process, so
the real-process test migrates a database of its own and runs the CLI as a
separate process on it, killed with SIGKILL once it has committed checkpoints.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy import func, select

from dinamis import PROJECT_ROOT
from dinamis.catalogue.ingest import ingest
from dinamis.catalogue.models import IngestProgress, Scene
from dinamis.core.migrate import alembic_config
from dinamis.core.transaction import commit, rollback
from dinamis.extensions import db
from tests.catalogue.test_ingest import COLLECTION, item
from tests.conftest import create_database, drop_database, unique_db_name

ITEMS = 20_000
EVERY = 500


def _write(path: Path, count: int, bad: tuple[int, ...] = ()) -> None:
    with path.open("w") as handle:
        handle.write(json.dumps(COLLECTION) + "\n")
        for n in range(count):
            handle.write(("{oops" if n in bad else json.dumps(item(n))) + "\n")


@pytest.fixture(scope="module")
def scratch_url():
    name = unique_db_name("ingestkill")
    url = create_database(name)
    try:
        config = alembic_config(url)
        config.attributes["configure_logging"] = False
        command.upgrade(config, "heads")
        yield url
    finally:
        drop_database(name)


def _cli(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "dinamis.cli", "catalogue", "ingest", *args]


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DINAMIS_")}
    env.update(DATABASE_URL=url, DINAMIS_LOG_JSON="false", PYTHONPATH=str(PROJECT_ROOT))
    return env


def _state(url: str) -> tuple[list[str], tuple[int, int, int] | None]:
    """The scene ids committed, and the progress row (items, line, offset) if any."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM scenes ORDER BY id")]
        row = conn.execute(
            "SELECT items, line_number, byte_offset FROM catalogue_ingest_progress"
        ).fetchone()
    return ids, (tuple(row) if row else None)  # type: ignore[return-value]


def test_a_killed_load_resumes_without_duplicates_or_losses(scratch_url, tmp_path):
    path = tmp_path / "items.ndjson"
    _write(path, ITEMS)
    expected = sorted(item(n)["id"] for n in range(ITEMS))
    process = subprocess.Popen(  # noqa: S603 (our own command)
        _cli(scratch_url, str(path), "--every", str(EVERY)),
        env=_env(scratch_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            _ids, progress = _state(scratch_url)
            if progress is not None and progress[0] >= 4 * EVERY:
                break
            time.sleep(0.02)  # polling another process's commits, not waiting for time
        assert process.poll() is None, "the load ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    assert process.returncode == -signal.SIGKILL

    committed, progress = _state(scratch_url)
    assert progress is not None
    items, line, offset = progress
    assert 4 * EVERY <= items < ITEMS
    assert items == line - 1  # the collection's line, then one item a line
    # exactly the items of the lines before the checkpoint are in, none after it
    assert committed == sorted(item(n)["id"] for n in range(line - 1))
    assert len(committed) == items
    with path.open("rb") as handle:
        assert len(b"".join(handle.readline() for _ in range(line))) == offset

    again = subprocess.run(  # noqa: S603 (our own command)
        _cli(scratch_url, str(path), "--every", str(EVERY)),
        env=_env(scratch_url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"resumed after line {line:,}" in again.stderr
    # only the rest was read: no collection (line 1) and ITEMS - items items
    assert f"0 collection(s), {ITEMS - items} item(s) ingested, 0 refused" in again.stdout
    ids, progress = _state(scratch_url)
    assert ids == expected  # every item once (ids are the primary key)
    assert progress is None  # the file is done


def test_checkpoints_count_and_restart(app, tmp_path):
    """In-process: what a checkpoint writes, a run that failed after one, and --restart."""
    path = tmp_path / "items.ndjson"
    _write(path, 10, bad=(4,))
    calls: list[int] = []

    def failing_commit() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        commit()

    with app.app_context():
        with pytest.raises(RuntimeError):
            ingest([path], checkpoint=failing_commit, every=3)
        rollback()  # what the CLI's transaction does on an error
        saved = db.session.get(IngestProgress, str(path.resolve()))
        # first checkpoint after 3 records: the collection and items 0, 1
        assert (saved.line_number, saved.items, saved.refused) == (3, 2, 0)
        assert db.session.scalar(select(func.count()).select_from(Scene)) == 2

        report = ingest([path], checkpoint=commit, every=3)
        assert (report.collections, report.items, report.refused) == (0, 7, 1)
        assert "resumed after line 3" in report.notes[0]
        assert report.errors[0].startswith("items.ndjson:6:")  # the line numbers go on
        assert db.session.get(IngestProgress, str(path.resolve())) is None
        assert db.session.scalar(select(func.count()).select_from(Scene)) == 9

        # a run that stopped, then --restart: from the top again (upserts: still 9 scenes)
        with pytest.raises(RuntimeError):
            calls.clear()
            ingest([path], checkpoint=failing_commit, every=3)
        rollback()
        report = ingest([path], checkpoint=commit, every=3, restart=True)
        assert (report.collections, report.items, report.refused) == (1, 9, 1)
        assert report.notes == []
        assert db.session.scalar(select(func.count()).select_from(Scene)) == 9

        # a file changed since the interrupted run starts from the top too
        with pytest.raises(RuntimeError):
            calls.clear()
            ingest([path], checkpoint=failing_commit, every=3)
        rollback()
        _write(path, 12)
        report = ingest([path], checkpoint=commit, every=3)
        assert (report.collections, report.items, report.refused) == (1, 12, 0)
        assert db.session.scalar(select(func.count()).select_from(Scene)) == 12


def test_a_report_keeps_the_first_reasons_and_counts_every_refusal(app, tmp_path, monkeypatch):
    from dinamis.catalogue import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "MAX_ERRORS", 3)
    path = tmp_path / "items.ndjson"
    _write(path, 8, bad=(1, 2, 3, 4, 5))
    with app.app_context():
        report = ingest([path])
    assert (report.items, report.refused, len(report.errors)) == (3, 5, 3)
    assert [e.split(":")[1] for e in report.errors] == ["3", "4", "5"]
