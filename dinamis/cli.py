"""The `dinamis` console script: Flask's CLI for this application."""

from __future__ import annotations

import sys
from importlib import import_module

import click
from flask import Flask
from flask.cli import FlaskGroup

from dinamis.config import ConfigError


def _create_app() -> Flask:
    from dinamis import create_app

    try:
        return create_app()
    except ConfigError as exc:
        click.echo(f"Configuration error: {exc}", err=True)
        sys.exit(2)


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True)
def main() -> None:
    """Dinamis command line."""


# Every command group and command of the `dinamis` script, as "module:name"; imported
# when the app registers them (the domains' modules import the app's extensions).
COMMANDS = (
    "dinamis.core.cli:seed_command",
    "dinamis.accounts.cli:users_cli",
    "dinamis.accounts.cli:tokens_cli",
    "dinamis.core.cli:mail_cli",
    "dinamis.core.cli:db_cli",
    "dinamis.quota.cli:quota_cli",
    "dinamis.orders.cli:orders_cli",
    "dinamis.membership.cli:membership_cli",
    "dinamis.catalogue.cli:catalogue_cli",
    "dinamis.reports.cli:reports_cli",
    "dinamis.jobs.cli:worker_command",
    "dinamis.jobs.cli:run_all_command",
)


def register_commands(app: Flask) -> None:
    for path in COMMANDS:
        module, name = path.split(":")
        app.cli.add_command(getattr(import_module(module), name))


if __name__ == "__main__":  # `python -m dinamis.cli`: what `dinamis run-all` starts
    main()
