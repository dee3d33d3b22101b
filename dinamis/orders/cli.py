"""`dinamis orders`: the daily job."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from dinamis.core.transaction import transaction
from dinamis.orders import service


@click.group("orders")
def orders_cli() -> None:
    """Orders."""


@orders_cli.command("expire")
@with_appcontext
def expire() -> None:
    """Expire orders whose acquisition window has passed and quotes past validity."""
    with transaction():
        expired = service.expire_windows()
    click.echo(f"{len(expired)} order(s) expired")
