"""An entity's ledger statement: every posting that touched its accounts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import get_locale
from sqlalchemy import select

from dinamis.core.exports import csv_text
from dinamis.extensions import db
from dinamis.membership.models import Entity, Profile
from dinamis.quota.models import AccountKind, LedgerAccount, LedgerEntry, LedgerTransaction
from dinamis.quota.service import reason_words

COLUMNS = (
    AccountKind.AVAILABLE,
    AccountKind.RESERVED,
    AccountKind.CONSUMED,
    AccountKind.COFUNDED_RESERVED,
    AccountKind.COFUNDED_CONSUMED,
)


@dataclass
class StatementLine:
    transaction_id: int
    at: dt.datetime
    kind: str
    family: str
    period: str
    reference: str | None
    reason: str | None
    order_id: int | None = None  # the order the posting is for
    reason_text: str = ""  # the reason in the reader's language
    changes: dict[str, Decimal] = field(default_factory=dict)


def statement(entity: Entity, period: str | None = None) -> list[StatementLine]:
    """The postings on the entity's accounts, oldest first, one line per transaction and family."""
    query = (
        select(LedgerTransaction, LedgerAccount, LedgerEntry.amount)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.entity_id == entity.id)
        .order_by(LedgerTransaction.id, LedgerEntry.id)
    )
    if period:
        query = query.where(LedgerAccount.period == period)
    lines: dict[tuple[int, str, str], StatementLine] = {}
    for tx, account, amount in db.session.execute(query):
        key = (tx.id, account.family, account.period)
        line = lines.get(key)
        if line is None:
            line = lines[key] = StatementLine(
                tx.id,
                tx.created_at,
                tx.kind,
                account.family,
                account.period,
                tx.reference,
                tx.reason,
                tx.order_id,
            )
        line.changes[account.kind] = line.changes.get(account.kind, Decimal("0")) + amount
    names = profile_names()
    for line in lines.values():
        line.reason_text = reason_words(line.kind, line.reason, names)
    return list(lines.values())


def profile_names() -> dict[str, str]:
    """Profile codes to names in the reader's language (for reasons that name profiles)."""
    language = str(get_locale() or "fr")
    return {p.code: p.name(language) for p in db.session.scalars(select(Profile))}


def statement_csv(lines: list[StatementLine]) -> str:
    """The statement as CSV (UTF-8, comma-separated, one header row)."""
    return csv_text(
        ["transaction", "date", "posting", "family", "period", "reference", "reason", *COLUMNS],
        (
            [
                line.transaction_id,
                line.at.isoformat(),
                line.kind,
                line.family,
                line.period,
                line.reference or "",
                line.reason or "",
                *(line.changes.get(column, "") for column in COLUMNS),
            ]
            for line in lines
        ),
    )
