"""`dinamis catalogue ingest FILE...`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask.cli import with_appcontext

from dinamis.catalogue.ingest import ingest, vacuum
from dinamis.core.transaction import transaction


@click.group("catalogue")
def catalogue_cli() -> None:
    """The image catalogue."""


@catalogue_cli.command("ingest")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@with_appcontext
def ingest_command(files: tuple[Path, ...]) -> None:
    """Insert or update STAC Collections and Items (JSON, FeatureCollection or NDJSON)."""
    size = sum(path.stat().st_size for path in files)
    started = time.monotonic()
    with (
        click.progressbar(length=size, label="reading", show_eta=True, file=sys.stderr) as bar,
        transaction(),
    ):
        report = ingest(files, progress=bar.update)
    if report.items:
        vacuum()  # statistics and visibility map for the new scenes, now
    elapsed = max(time.monotonic() - started, 1e-6)
    for note in report.notes:
        click.echo(note, err=True)
    for error in report.errors[:200]:
        click.echo(f"refused {error}", err=True)
    if len(report.errors) > 200:
        click.echo(f"... and {len(report.errors) - 200} more refusals", err=True)
    click.echo(
        f"{report.collections} collection(s), {report.items} item(s) ingested, "
        f"{len(report.errors)} refused, in {elapsed:.1f} s ({report.items / elapsed:.0f} items/s)"
    )
