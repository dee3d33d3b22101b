"""`dinamis reports`: the reminder job."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from dinamis.core.cli import in_transaction
from dinamis.reports import service, yearly

reports_cli = click.Group("reports", help="Usage reports.")


@reports_cli.command("remind")
@in_transaction
def remind() -> str:
    """Mail the authors of reports due within 14 days or overdue (at most weekly)."""
    return f"{service.remind()} reminder(s) queued"


@reports_cli.command("yearly")
@click.argument("year", type=int)
@click.option(
    "--entity", "entity_id", type=int, help="One entity's report instead of the programme's."
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory to write the PDF to.",
)
@with_appcontext
def yearly_command(year: int, entity_id: int | None, output: Path) -> None:
    """Write the programme's yearly PDF report (or one entity's) for YEAR."""
    from dinamis.core.errors import ServiceError
    from dinamis.extensions import db
    from dinamis.membership.models import Entity

    try:
        if entity_id is not None:
            entity = db.session.get(Entity, entity_id)
            if entity is None:
                raise click.ClickException(f"There is no entity {entity_id}.")
            content, name = (
                yearly.entity_pdf(entity, year),
                f"dinamis-{year}-entity-{entity_id}.pdf",
            )
        else:
            content, name = yearly.programme_pdf(year), f"dinamis-{year}.pdf"
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    output.mkdir(parents=True, exist_ok=True)
    (output / name).write_bytes(content)
    click.echo(f"{output / name}: {len(content):,} bytes")
