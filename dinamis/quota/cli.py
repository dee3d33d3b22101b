"""`dinamis quota`: open periods and read balances."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from dinamis.core.cli import in_transaction
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.quota import service

quota_cli = click.Group("quota", help="The quota ledger.")


@quota_cli.command("open-period")
@click.argument("period")
@in_transaction
def open_period(period: str) -> list[str]:
    """Grant every active entity its allowances for PERIOD (2027 or 2027-Q1); idempotent."""
    opened = service.open_period(period)
    lines = [
        f"entity {o.entity_id}: {o.family} {o.period} {o.km2} km² "
        + ("granted" if o.new else "already granted")
        for o in opened
    ]
    return [*lines, f"{len(opened)} allowance(s) granted or already granted for {period}"]


@quota_cli.command("balances")
@click.argument("entity_id", type=int)
@with_appcontext
def balances(entity_id: int) -> None:
    """Print an entity's balances per family and period."""
    entity = db.session.scalar(select(Entity).where(Entity.id == entity_id))
    if entity is None:
        raise click.ClickException(f"No entity with id {entity_id}.")
    click.echo("family    period   granted  available  reserved  consumed  cofunded")
    for b in service.balances(entity):
        cofunded = b.cofunded_reserved + b.cofunded_consumed
        click.echo(
            f"{b.family:<9} {b.period:<8} {b.granted:>8} {b.available:>10} "
            f"{b.reserved:>9} {b.consumed:>9} {cofunded:>9}"
        )
    click.echo(f"ledger trial balance: {service.trial_balance()}")
