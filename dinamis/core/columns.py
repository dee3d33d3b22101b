"""The columns the models share, declared once.

`Annotated` column types (SQLAlchemy 2.0's "whole column declarations"): a model
says `id: Mapped[IntPk]` or `created_at: Mapped[CreatedAt]` and gets the same
type, key, default and index as every other model; `Mapped[UserRef | None]`
makes the column nullable, and a `mapped_column(index=True)` on the right adds
to the type's options. `part_of` links a row to the row it belongs to, and
`choice` is a string column holding one of a set of values (a `StrEnum`'s, or
a tuple's), its CHECK constraint made from them; `within` a number column
between two bounds, its CHECK constraint saying so (`Progress`, a job's %).
`PersonName` gives a model a person's names.

The DDL is the one the models wrote out column by column before (the migration
test compares the models with the migrated schema, CHECK constraints included).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, String, Table, event, func
from sqlalchemy.orm import Mapped, MappedColumn, mapped_column

from dinamis.core.db import one_of

IntPk = Annotated[int, mapped_column(primary_key=True)]
# Tables that grow by the million (totals, matches, deliveries, job batches).
BigIntPk = Annotated[int, mapped_column(BigInteger, primary_key=True)]

# When the row was written, by the database's clock (the transaction's start).
CreatedAt = Annotated[dt.datetime, mapped_column(server_default=func.now())]
UpdatedAt = Annotated[dt.datetime, mapped_column(server_default=func.now(), onupdate=func.now())]

# An account that acted on a row (requested, decided, reviewed, wrote): an account
# named in the record is never deleted (accounts are removed by status).
UserRef = Annotated[int, mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))]
# What an account owns (API tokens, saved searches, webhooks) goes with it.
OwnedByUser = Annotated[int, mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)]
# The member entity a row belongs to; its rows are listed per entity.
EntityRef = Annotated[
    int, mapped_column(ForeignKey("entities.id", ondelete="RESTRICT"), index=True)
]


def part_of(table: str, **options: Any) -> MappedColumn[Any]:
    """The link of a row to the `table` row it is part of (an order's events, a
    ticket's messages): indexed, deleted with it."""
    options.setdefault("index", True)
    return mapped_column(ForeignKey(f"{table}.id", ondelete="CASCADE"), **options)


def values_of(choices: type[StrEnum]) -> tuple[str, ...]:
    """The values of a `StrEnum` as plain strings, in order: what the database holds.

    Where the set itself is wanted (a form's or an API field's choices, a check of
    input), as the strings they are: a pydantic `Literal` of them names each value,
    not the member's repr, in its errors.
    """
    return tuple(member.value for member in choices)


def choice(values: Iterable[str], length: int, **options: Any) -> MappedColumn[Any]:
    """A string column that holds one of `values`, or NULL when the column may be.

    `values` is a `StrEnum` (`choice(Status, 20)`) or a tuple of strings. Its
    CHECK constraint, `ck_<table>_<column>`, is `core.db.one_of` made from
    `values`: a value added to them is a schema change (the migration test sees
    it). `options` are `mapped_column`'s (default, index...).
    """
    allowed = tuple(str(value) for value in values)
    if isinstance(options.get("default"), str):  # a member: its value, as the database returns
        options["default"] = str(options["default"])
    column = mapped_column(String(length), **options)

    def check(column: Column[Any], table: Table) -> None:
        table.append_constraint(one_of(column.name, allowed, name=column.name))

    event.listen(column.column, "after_parent_attach", check)
    return column


_BOUNDS = "dinamis_within"


def within(low: int, high: int, *args: Any, check: str, **options: Any) -> MappedColumn[Any]:
    """A number column whose values lie from `low` to `high`, or are NULL when the
    column may be: its CHECK constraint is `ck_<table>_<check>`. `args` and `options`
    are `mapped_column`'s (the type, default...). Usable in an `Annotated` type."""
    column = mapped_column(*args, **options)
    # Kept in `info`, which SQLAlchemy carries over when an Annotated type's column is
    # used (the column's own listeners are not).
    column.column.info[_BOUNDS] = (low, high, check)
    return column


@event.listens_for(Column, "after_parent_attach")
def _bounds_checked(column: Column[Any], table: Any) -> None:
    """The CHECK constraint of a `within` column, added to the table it joins."""
    bounds = column.info.get(_BOUNDS)
    if bounds is None or not isinstance(table, Table):
        return
    low, high, check = bounds
    rule = f"{column.name} BETWEEN {low} AND {high}"
    if column.nullable:
        rule = f"{column.name} IS NULL OR {rule}"
    table.append_constraint(CheckConstraint(rule, name=check))


# How far a worker is through a job, in % (a surface model, a yearly PDF).
Progress = Annotated[int, within(0, 100, default=0, check="progress_range")]


class PersonName:
    """A person's first and last names (an account, a request to join), and both as one."""

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
