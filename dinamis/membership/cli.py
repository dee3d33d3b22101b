"""`dinamis membership`: the daily reminder job."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from dinamis.core.transaction import transaction
from dinamis.membership import entities


@click.group("membership")
def membership_cli() -> None:
    """Memberships."""


@membership_cli.command("remind")
@with_appcontext
def remind() -> None:
    """Mail reminders 60 and 15 days before expiry; mark expired memberships."""
    with transaction():
        sent = entities.remind()
    for entity, days in sent:
        click.echo(f"{entity.name}: {days}-day reminder sent")
    click.echo(f"{len(sent)} reminder(s) sent")
