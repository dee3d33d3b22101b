"""`dinamis quota`: open periods and read balances."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from dinamis.core.errors import ServiceError
from dinamis.core.transaction import transaction
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.quota import service


@click.group("quota")
def quota_cli() -> None:
    """The quota ledger."""


@quota_cli.command("open-period")
@click.argument("period")
@with_appcontext
def open_period(period: str) -> None:
    """Grant every active entity its allowances for PERIOD (2027 or 2027-Q1); idempotent."""
    try:
        with transaction():
            opened = service.open_period(period)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    for line in opened:
        done = "granted" if line.new else "already granted"
        click.echo(f"entity {line.entity_id}: {line.family} {line.period} {line.km2} km² {done}")
    click.echo(f"{len(opened)} allowance(s) granted or already granted for {period}")


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
