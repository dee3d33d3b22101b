"""`dinamis orders`: the daily job."""

from __future__ import annotations

import datetime as dt

import click

from dinamis.core.cli import in_transaction
from dinamis.orders import service

orders_cli = click.Group("orders", help="Orders.")


def expire_all(today: dt.date | None = None) -> str:
    """The daily expiry (this command and the `expire_orders` task): orders past their
    window, and co-funding quotes past their validity, orders' and surface models' alike."""
    from dinamis.dsm import service as dsm

    orders = service.expire_windows(today)
    quotes = dsm.expire_quotes(today)
    return f"{len(orders)} order(s) expired, {len(quotes)} surface-model quote(s) expired"


@orders_cli.command("expire")
@in_transaction
def expire() -> str:
    """Expire orders whose acquisition window has passed and quotes past validity."""
    return expire_all()
