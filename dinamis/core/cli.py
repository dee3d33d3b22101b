"""Commands for the database, the demo data and the mail outbox."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import ParamSpec

import click
from alembic import command
from flask import current_app
from flask.cli import with_appcontext

from dinamis import PROJECT_ROOT
from dinamis.core.errors import ServiceError
from dinamis.core.migrate import alembic_config
from dinamis.core.transaction import transaction

P = ParamSpec("P")


@contextmanager
def command_transaction() -> Iterator[None]:
    """A command's one transaction: committed at the end (mail leaves after it), rolled
    back on any error; a service's refusal is the command's error message (exit 1)."""
    try:
        with transaction():
            yield
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None


def in_transaction(work: Callable[P, str | Iterable[str]]) -> Callable[P, None]:
    """A command whose work runs in the app's context and one `command_transaction`;
    the lines it returns are printed once committed."""

    @with_appcontext
    @wraps(work)
    def command(*args: P.args, **kwargs: P.kwargs) -> None:
        with command_transaction():
            said = work(*args, **kwargs)
        for line in [said] if isinstance(said, str) else said:
            click.echo(line)

    return command


db_cli = click.Group("db", help="Database migrations.")


@db_cli.command("upgrade")
@click.argument("revision", default="heads")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the latest)."""
    command.upgrade(alembic_config(current_app.config["DATABASE_URL"]), revision)


@db_cli.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION."""
    command.downgrade(alembic_config(current_app.config["DATABASE_URL"]), revision)


@db_cli.command("current")
@with_appcontext
def db_current() -> None:
    """Show the database's revision."""
    command.current(alembic_config(current_app.config["DATABASE_URL"]))


@click.command("seed")
@click.option(
    "--dir",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=PROJECT_ROOT / "seed",
    show_default=True,
)
@in_transaction
def seed_command(directory: Path) -> list[str]:
    """Load the demo data (idempotent: running it twice changes nothing)."""
    from seed.loader import load

    return load(directory)


mail_cli = click.Group("mail", help="The e-mail outbox.")


@mail_cli.command("send")
@click.option("--loop", is_flag=True, help="Keep running, checking every --interval seconds.")
@click.option("--interval", default=30, show_default=True)
@with_appcontext
def mail_send(loop: bool, interval: int) -> None:
    """Deliver the messages waiting in the outbox."""
    from dinamis.core.mail import deliver_due

    while True:
        sent = deliver_due()
        click.echo(f"{sent} message(s) delivered")
        if not loop:
            break
        time.sleep(interval)
