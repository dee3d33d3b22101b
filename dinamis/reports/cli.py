"""`dinamis reports`: the reminder job."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from dinamis.core.transaction import transaction
from dinamis.reports import service


@click.group("reports")
def reports_cli() -> None:
    """Usage reports."""


@reports_cli.command("remind")
@with_appcontext
def remind() -> None:
    """Mail the authors of reports due within 14 days or overdue (at most weekly)."""
    with transaction():
        sent = service.remind()
    click.echo(f"{sent} reminder(s) queued")
