"""`dinamis membership`: the daily reminder job."""

from __future__ import annotations

import click

from dinamis.core.cli import in_transaction
from dinamis.membership import entities

membership_cli = click.Group("membership", help="Memberships.")


@membership_cli.command("remind")
@in_transaction
def remind() -> list[str]:
    """Mail reminders 60 and 15 days before expiry; mark expired memberships."""
    sent = entities.remind()
    lines = [f"{entity.name}: {days}-day reminder sent" for entity, days in sent]
    return [*lines, f"{len(sent)} reminder(s) sent"]
