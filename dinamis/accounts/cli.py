"""`dinamis users` and `dinamis tokens`."""

from __future__ import annotations

import secrets

import click
from flask.cli import with_appcontext
from sqlalchemy import or_, select

from dinamis.accounts import service
from dinamis.accounts.models import EntityRole, Role
from dinamis.core.cli import command_transaction, in_transaction
from dinamis.extensions import db
from dinamis.membership.models import Entity

users_cli = click.Group("users", help="Accounts.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["user", "referent", "staff"]), default="user")
@click.option("--entity", "entity_ref", help="Entity id, name or acronym (not for staff).")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@click.option("--language", type=click.Choice(["fr", "en"]), default="fr")
@click.option(
    "--password",
    help="Initial password; asked for when omitted (or generated with --generate-password).",
)
@click.option("--generate-password", is_flag=True)
@with_appcontext
def users_create(
    email: str,
    role: str,
    entity_ref: str | None,
    first_name: str,
    last_name: str,
    language: str,
    password: str | None,
    generate_password: bool,
) -> None:
    """Create an active account."""
    entity = None
    if role != "staff":
        if not entity_ref:
            raise click.UsageError("--entity is required for a user or a referent.")
        entity = _find_entity(entity_ref)
    elif entity_ref:
        raise click.UsageError("Staff accounts belong to no entity; drop --entity.")
    if generate_password:
        password = secrets.token_urlsafe(12)
    elif password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    local = email.split("@")[0]
    with command_transaction():
        user = service.create_user(
            email=email,
            first_name=first_name or local,
            last_name=last_name,
            password=password,
            role=Role.STAFF if role == "staff" else Role.USER,
            entity=entity,
            entity_role=EntityRole.REFERENT if role == "referent" else None,
            language=language,
        )
    click.echo(f"Created user {user.id} <{user.email}> ({', '.join(user.roles)})")
    if generate_password:
        click.echo(f"Password: {password}")


def _find_entity(ref: str) -> Entity:
    query = select(Entity)
    if ref.isdigit():
        query = query.where(Entity.id == int(ref))
    else:
        query = query.where(or_(Entity.name == ref, Entity.acronym == ref))
    found = db.session.scalars(query).all()
    if not found:
        raise click.ClickException(f"No entity matches {ref!r}.")
    if len(found) > 1:
        raise click.ClickException(f"Several entities match {ref!r}; give its id.")
    return found[0]


tokens_cli = click.Group("tokens", help="Personal API tokens.")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="cli", show_default=True)
@click.option(
    "--days", type=int, default=None, help="Lifetime (default: DINAMIS_TOKEN_DEFAULT_DAYS)."
)
@in_transaction
def tokens_create(email: str, name: str, days: int | None) -> str:
    """Create an API token for EMAIL and print it (shown only once)."""
    user = service.get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account with the e-mail {email}.")
    _token, clear = service.create_api_token(user, name, days)
    return clear


@tokens_cli.command("remind")
@in_transaction
def tokens_remind() -> str:
    """Daily: mail the owners of tokens that expire soon (once per token)."""
    return f"{len(service.remind_expiring_tokens())} reminder(s) queued."
