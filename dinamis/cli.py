"""The `dinamis` console script: Flask's CLI for this application."""

from __future__ import annotations

import sys

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


def register_commands(app: Flask) -> None:
    from dinamis.accounts.cli import tokens_cli, users_cli
    from dinamis.core.cli import db_cli, mail_cli, seed_command

    app.cli.add_command(seed_command)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(db_cli)
    from dinamis.quota.cli import quota_cli

    app.cli.add_command(quota_cli)
    from dinamis.orders.cli import orders_cli

    app.cli.add_command(orders_cli)
    from dinamis.membership.cli import membership_cli

    app.cli.add_command(membership_cli)
    from dinamis.catalogue.cli import catalogue_cli

    app.cli.add_command(catalogue_cli)
    from dinamis.reports.cli import reports_cli

    app.cli.add_command(reports_cli)
    from dinamis.jobs.cli import run_all_command, worker_command

    app.cli.add_command(worker_command)
    app.cli.add_command(run_all_command)


if __name__ == "__main__":  # `python -m dinamis.cli`: what `dinamis run-all` starts
    main()
