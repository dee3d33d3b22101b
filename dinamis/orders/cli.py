"""`dinamis orders`: the daily job."""

from __future__ import annotations

import click

from dinamis.core.cli import in_transaction
from dinamis.orders import service


@click.group("orders")
def orders_cli() -> None:
    """Orders."""


@orders_cli.command("expire")
@in_transaction
def expire() -> str:
    """Expire orders whose acquisition window has passed and quotes past validity."""
    return f"{len(service.expire_windows())} order(s) expired"
