"""`dinamis catalogue ingest FILE...`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask.cli import with_appcontext

from dinamis.catalogue.ingest import EVERY, ingest, vacuum
from dinamis.core.transaction import commit, transaction

catalogue_cli = click.Group("catalogue", help="The image catalogue.")


@catalogue_cli.command("ingest")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=EVERY,
    show_default=True,
    help="Commit an NDJSON file's items and position every this many items.",
)
@click.option(
    "--restart",
    is_flag=True,
    help="Read every file from the top, even one an interrupted run left midway.",
)
@with_appcontext
def ingest_command(files: tuple[Path, ...], every: int, restart: bool) -> None:
    """Insert or update STAC Collections and Items (JSON, FeatureCollection or NDJSON).

    An NDJSON file is committed every --every items with its position: if the
    load is interrupted, running the same command again resumes after the last
    commit (items are upserted by id: none is duplicated or lost).
    """
    size = sum(path.stat().st_size for path in files)
    started = time.monotonic()
    with (
        click.progressbar(length=size, label="reading", show_eta=True, file=sys.stderr) as bar,
        transaction(),
    ):
        report = ingest(files, progress=bar.update, checkpoint=commit, every=every, restart=restart)
    if report.items:
        vacuum()  # statistics and visibility map for the new scenes, now
    elapsed = max(time.monotonic() - started, 1e-6)
    for note in report.notes:
        click.echo(note, err=True)
    for error in report.errors[:200]:
        click.echo(f"refused {error}", err=True)
    if report.refused > 200:
        click.echo(f"... and {report.refused - 200} more refusals", err=True)
    click.echo(
        f"{report.collections} collection(s), {report.items} item(s) ingested, "
        f"{report.refused} refused, in {elapsed:.1f} s ({report.items / elapsed:.0f} items/s)"
    )
