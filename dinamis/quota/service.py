"""Postings on the quota ledger and the balances they add up to.

Rules:
- every posting is idempotent: posting twice with the same key returns the
  first transaction and moves nothing more (a retried request is harmless);
- an entity's available km² never go below zero, also under concurrent
  requests: every posting that takes km² from an account locks that
  account's row first (SELECT ... FOR UPDATE), so takers queue up;
- amounts are exact Decimals quantised to 0.01 km².
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert

from dinamis.core.errors import Conflict, Forbidden, ServiceError
from dinamis.extensions import db
from dinamis.membership.models import Entity, EntityStatus
from dinamis.quota.models import (
    AccountKind,
    AllowanceRule,
    Family,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PostingKind,
)
from dinamis.quota.permissions import can_adjust_quota

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def km2(value: Decimal | int | str) -> Decimal:
    """An exact area in km², quantised to 0.01 (half up)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def period_for(day: dt.date, period_kind: str = "year") -> str:
    """The period label of a date: "2027" (year) or "2027-Q1" (quarter)."""
    if period_kind == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


def validate_period(period: str) -> str:
    """Refuse a malformed period label with a clear message."""
    year, _sep, quarter = period.partition("-")
    ok = year.isdigit() and len(year) == 4 and (not quarter or quarter in ("Q1", "Q2", "Q3", "Q4"))
    if not ok:
        raise ServiceError(
            _("A period is a year (2027) or a quarter (2027-Q1), not %(p)s.", p=period)
        )
    return period


def get_account(
    entity_id: int | None, family: str, period: str, kind: str, *, lock: bool = False
) -> LedgerAccount:
    """The account for this key, created on first use; locked when `lock`."""
    if family not in Family.ALL:
        raise ServiceError(_("Unknown quota family: %(f)s.", f=family))
    session = db.session
    query = select(LedgerAccount).where(
        LedgerAccount.entity_id.is_(None)
        if entity_id is None
        else LedgerAccount.entity_id == entity_id,
        LedgerAccount.family == family,
        LedgerAccount.period == period,
        LedgerAccount.kind == kind,
    )
    if lock:
        query = query.with_for_update()
    # Most accounts exist already: look first, create only when missing (one
    # statement instead of two on the hot path). A concurrent creator makes
    # the insert wait on the unique key, then do nothing; the second look
    # finds the row either way.
    account = session.scalars(query).one_or_none()
    if account is None:
        session.execute(
            insert(LedgerAccount)
            .values(entity_id=entity_id, family=family, period=period, kind=kind)
            .on_conflict_do_nothing(constraint="uq_ledger_accounts_key")
        )
        account = session.scalars(query).one()
    return account


def balance(account: LedgerAccount) -> Decimal:
    """The sum of the account's entries."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.account_id == account.id
        )
    )
    return km2(total)


def _post(
    kind: str,
    key: str,
    moves: Sequence[tuple[LedgerAccount, LedgerAccount, Decimal]],
    *,
    reason: str | None = None,
    reference: str | None = None,
    actor_id: int | None = None,
    key_checked: bool = False,
) -> LedgerTransaction:
    """Post one transaction: each move takes `amount` from one account to another.

    `key_checked`: the caller has just looked the key up (under the account
    lock) and found nothing, so it is not looked up again.
    """
    session = db.session
    existing = (
        None
        if key_checked
        else session.scalar(
            select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)
        )
    )
    if existing is not None:
        if existing.kind != kind or existing.reference != reference:
            raise Conflict(_("This idempotency key was already used for another posting."))
        return existing
    transaction = LedgerTransaction(
        kind=kind, idempotency_key=key, reason=reason, reference=reference, actor_id=actor_id
    )
    session.add(transaction)
    session.flush()
    for source, target, amount in moves:
        amount = km2(amount)
        if amount <= 0:
            continue
        session.add(
            LedgerEntry(transaction_id=transaction.id, account_id=source.id, amount=-amount)
        )
        session.add(LedgerEntry(transaction_id=transaction.id, account_id=target.id, amount=amount))
    session.flush()
    return transaction


def _entity_accounts(entity_id: int, family: str, period: str, *kinds: str) -> list[LedgerAccount]:
    # Always lock in the same order (available first) to avoid deadlocks.
    order = {k: i for i, k in enumerate(AccountKind.ALL)}
    return [
        get_account(entity_id, family, period, kind, lock=True)
        for kind in sorted(kinds, key=order.__getitem__)
    ]


def grant(entity: Entity, family: str, period: str, amount: Decimal) -> LedgerTransaction:
    """Grant an entity its free allowance for a family and period (idempotent)."""
    validate_period(period)
    source = get_account(None, family, period, AccountKind.GRANTS)
    (available,) = _entity_accounts(entity.id, family, period, AccountKind.AVAILABLE)
    return _post(
        PostingKind.GRANT,
        f"grant:{entity.id}:{family}:{period}",
        [(source, available, amount)],
        reason="allowance",
    )


@dataclass(frozen=True)
class OpenedPeriod:
    entity_id: int
    family: str
    period: str
    km2: Decimal


def open_period(period: str) -> list[OpenedPeriod]:
    """Grant every active entity its allowances for `period` (idempotent).

    A year ("2027") opens the yearly rules; a quarter ("2027-Q1") the
    quarterly ones.
    """
    validate_period(period)
    period_kind = "quarter" if "-Q" in period else "year"
    session = db.session
    rows = session.execute(
        select(Entity, AllowanceRule)
        .join(AllowanceRule, AllowanceRule.profile_id == Entity.profile_id)
        .where(
            Entity.status == EntityStatus.ACTIVE,
            AllowanceRule.period_kind == period_kind,
            AllowanceRule.km2 > 0,
        )
        .order_by(Entity.id, AllowanceRule.family)
    ).all()
    opened = []
    for entity, rule in rows:
        grant(entity, rule.family, period, rule.km2)
        opened.append(OpenedPeriod(entity.id, rule.family, period, km2(rule.km2)))
    return opened


def adjust(
    actor: object, entity: Entity, family: str, period: str, amount: Decimal, reason: str, key: str
) -> LedgerTransaction:
    """Staff add (positive) or take back (negative) free km², with a reason."""
    if not can_adjust_quota(actor):
        raise Forbidden(_("Only staff may adjust quotas."))
    validate_period(period)
    amount = km2(amount)
    if amount == 0:
        raise ServiceError(
            _("An adjustment must change something."), fields={"amount": _("Not zero.")}
        )
    if not reason.strip():
        raise ServiceError(
            _("Give the reason for the adjustment."), fields={"reason": _("Required.")}
        )
    source = get_account(None, family, period, AccountKind.GRANTS)
    (available,) = _entity_accounts(entity.id, family, period, AccountKind.AVAILABLE)
    if amount < 0 and balance(available) < -amount:
        raise ServiceError(
            _(
                "Only %(available)s km² are available; "
                "an adjustment cannot take back %(amount)s km².",
                available=balance(available),
                amount=-amount,
            )
        )
    moves = [(source, available, amount)] if amount > 0 else [(available, source, -amount)]
    return _post(
        PostingKind.ADJUSTMENT,
        key,
        moves,
        reason=reason.strip(),
        actor_id=getattr(actor, "id", None),
    )


@dataclass(frozen=True)
class Split:
    """How an order's charged area splits between the free allowance and co-funding."""

    free: Decimal
    cofunded: Decimal


def split(entity: Entity, family: str, period: str, charged: Decimal) -> Split:
    """Preview the split of `charged` km² without reserving anything."""
    available = balance(get_account(entity.id, family, period, AccountKind.AVAILABLE))
    charged = km2(charged)
    free = min(max(available, ZERO), charged)
    return Split(free=free, cofunded=charged - free)


# Under the account locks, in one round trip: look the key up, read the
# available balance (a new statement, so its snapshot sees every posting
# committed by whoever held the lock before; from the account's few rows of
# ledger_totals, which the ledger's trigger keeps in each posting's own
# statement (migration 0015), rather than the sum of all its entries, which
# grows with every order of the period), post the transaction and its
# two entries when there is something free to hold, and report the free part.
_RESERVE = text(
    """
    WITH done AS (
        SELECT id FROM ledger_transactions WHERE idempotency_key = :key
    ), free AS (
        SELECT LEAST(GREATEST(COALESCE(SUM(amount), 0), 0), CAST(:charged AS numeric)) AS km2
        FROM ledger_totals WHERE account_id = :available
    ), posted AS (
        INSERT INTO ledger_transactions (kind, idempotency_key, reference)
        SELECT :kind, :key, :reference WHERE NOT EXISTS (SELECT FROM done)
        RETURNING id
    ), entries AS (
        INSERT INTO ledger_entries (transaction_id, account_id, amount)
        SELECT posted.id, move.account_id, move.sign * free.km2
        FROM posted, free,
            (VALUES (CAST(:available AS integer), -1), (CAST(:reserved AS integer), 1))
                AS move (account_id, sign)
        WHERE free.km2 > 0
        ORDER BY move.sign
    )
    SELECT (SELECT id FROM done) AS done, (SELECT km2 FROM free) AS free
    """
)


_LOCK_ACCOUNTS = text(
    """
    SELECT kind, id FROM ledger_accounts
    WHERE entity_id = :entity_id AND family = :family AND period = :period
        AND kind = ANY(CAST(:kinds AS text[]))
    ORDER BY array_position(CAST(:kinds AS text[]), CAST(kind AS text))
    FOR UPDATE
    """
)


def _lock_entity_accounts(entity_id: int, family: str, period: str, *kinds: str) -> list[int]:
    """The ids of these accounts of the entity, locked in one statement, created if missing.

    Rows are locked in the statement's order: available first, as in
    `_entity_accounts`, so that lockers never wait on each other in a cycle.
    """
    rank = {k: i for i, k in enumerate(AccountKind.ALL)}
    wanted = sorted(kinds, key=rank.__getitem__)
    params = {"entity_id": entity_id, "family": family, "period": period, "kinds": wanted}
    # On the session's connection: no autoflush (what the caller has pending is
    # written after the lock).
    found = dict(db.session.connection().execute(_LOCK_ACCOUNTS, params).all())
    if len(found) < len(wanted):  # first use of some of them: create, then lock all
        for kind in wanted:
            if kind not in found:
                get_account(entity_id, family, period, kind)
        found = dict(db.session.connection().execute(_LOCK_ACCOUNTS, params).all())
    return [found[kind] for kind in wanted]


def reserve(entity: Entity, family: str, period: str, charged: Decimal, reference: str) -> Split:
    """Hold the free part of an order (what is available now); return the split.

    The available account is locked while its balance is read and debited, so
    concurrent reservations never take the same km² twice. Callers should
    reserve as late as they can in their transaction: the lock is held until
    it commits.
    """
    charged = km2(charged)
    if charged <= 0:
        raise ServiceError(_("The charged area must be positive."))
    if family not in Family.ALL:
        raise ServiceError(_("Unknown quota family: %(f)s.", f=family))
    available, reserved = _lock_entity_accounts(
        entity.id, family, period, AccountKind.AVAILABLE, AccountKind.RESERVED
    )
    key = f"reserve:{reference}:{family}:{period}"
    row = (
        db.session.connection()
        .execute(
            _RESERVE,
            {
                "key": key,
                "kind": PostingKind.RESERVE,
                "reference": reference,
                "charged": charged,
                "available": available,
                "reserved": reserved,
            },
        )
        .one()
    )
    if row.done is not None:  # a retry: report what was reserved the first time
        done = db.session.get_one(LedgerTransaction, row.done)
        free = km2(sum((e.amount for e in done.entries if e.amount > 0), ZERO))
        return Split(free=free, cofunded=charged - free)
    free = km2(row.free)
    return Split(free=free, cofunded=charged - free)


def cofund(entity: Entity, family: str, period: str, amount: Decimal, reference: str) -> None:
    """Record the co-funded km² of an order once its quote is accepted."""
    source = get_account(None, family, period, AccountKind.COFUNDING)
    (held,) = _entity_accounts(entity.id, family, period, AccountKind.COFUNDED_RESERVED)
    _post(
        PostingKind.COFUND,
        f"cofund:{reference}:{family}:{period}",
        [(source, held, amount)],
        reference=reference,
    )


def held_by(entity: Entity, family: str, period: str, reference: str) -> Split:
    """What an order still holds: free and co-funded km²."""
    result = {}
    for kind in (AccountKind.RESERVED, AccountKind.COFUNDED_RESERVED):
        account = get_account(entity.id, family, period, kind)
        total = db.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0))
            .join(LedgerTransaction)
            .where(LedgerEntry.account_id == account.id, LedgerTransaction.reference == reference)
        )
        result[kind] = km2(total)
    return Split(free=result[AccountKind.RESERVED], cofunded=result[AccountKind.COFUNDED_RESERVED])


def settle(
    entity: Entity, family: str, period: str, reference: str, delivered: Decimal, step: str
) -> Split:
    """Consume what was delivered from the order's holds, free part first.

    `step` names this delivery (idempotency). Returns what was consumed.
    """
    delivered = km2(delivered)
    if delivered < 0:
        raise ServiceError(_("A delivered area cannot be negative."))
    reserved, consumed, cof_held, cof_consumed = _entity_accounts(
        entity.id,
        family,
        period,
        AccountKind.RESERVED,
        AccountKind.CONSUMED,
        AccountKind.COFUNDED_RESERVED,
        AccountKind.COFUNDED_CONSUMED,
    )
    held = held_by(entity, family, period, reference)
    if delivered > held.free + held.cofunded:
        raise ServiceError(
            _(
                "Delivered %(d)s km² is more than the %(h)s km² the order still holds.",
                d=delivered,
                h=held.free + held.cofunded,
            )
        )
    free = min(delivered, held.free)
    paid = delivered - free
    _post(
        PostingKind.CONSUME,
        f"consume:{reference}:{family}:{period}:{step}",
        [(reserved, consumed, free), (cof_held, cof_consumed, paid)],
        reference=reference,
    )
    return Split(free=free, cofunded=paid)


def release(entity: Entity, family: str, period: str, reference: str, step: str) -> Split:
    """Give back everything the order still holds (rejection, cancellation, the rest)."""
    available, reserved, cof_held = _entity_accounts(
        entity.id,
        family,
        period,
        AccountKind.AVAILABLE,
        AccountKind.RESERVED,
        AccountKind.COFUNDED_RESERVED,
    )
    held = held_by(entity, family, period, reference)
    source = get_account(None, family, period, AccountKind.COFUNDING)
    _post(
        PostingKind.RELEASE,
        f"release:{reference}:{family}:{period}:{step}",
        [(reserved, available, held.free), (cof_held, source, held.cofunded)],
        reference=reference,
    )
    return held


@dataclass(frozen=True)
class Balance:
    family: str
    period: str
    granted: Decimal
    available: Decimal
    reserved: Decimal
    consumed: Decimal
    cofunded_reserved: Decimal
    cofunded_consumed: Decimal


def balances(entity: Entity) -> list[Balance]:
    """The entity's balances per family and period, from the entries."""
    rows = db.session.execute(
        select(
            LedgerAccount.family,
            LedgerAccount.period,
            LedgerAccount.kind,
            func.coalesce(func.sum(LedgerEntry.amount), 0),
        )
        .outerjoin(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.entity_id == entity.id)
        .group_by(LedgerAccount.family, LedgerAccount.period, LedgerAccount.kind)
    ).all()
    table: dict[tuple[str, str], dict[str, Decimal]] = {}
    for family, period, kind, total in rows:
        table.setdefault((family, period), {})[kind] = km2(total)
    granted = dict(
        db.session.execute(
            select(
                func.concat(LedgerAccount.family, "|", LedgerAccount.period),
                func.coalesce(func.sum(LedgerEntry.amount), 0),
            )
            .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
            .join(LedgerTransaction)
            .where(
                LedgerAccount.entity_id == entity.id,
                LedgerAccount.kind == AccountKind.AVAILABLE,
                LedgerTransaction.kind.in_((PostingKind.GRANT, PostingKind.ADJUSTMENT)),
            )
            .group_by(LedgerAccount.family, LedgerAccount.period)
        ).all()
    )
    result = []
    for (family, period), kinds in sorted(table.items(), key=lambda item: (item[0][1], item[0][0])):
        result.append(
            Balance(
                family=family,
                period=period,
                granted=km2(granted.get(f"{family}|{period}", 0)),
                available=kinds.get(AccountKind.AVAILABLE, ZERO),
                reserved=kinds.get(AccountKind.RESERVED, ZERO),
                consumed=kinds.get(AccountKind.CONSUMED, ZERO),
                cofunded_reserved=kinds.get(AccountKind.COFUNDED_RESERVED, ZERO),
                cofunded_consumed=kinds.get(AccountKind.COFUNDED_CONSUMED, ZERO),
            )
        )
    return result


def trial_balance() -> Decimal:
    """The sum of every entry in the ledger: always zero."""
    return km2(db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))))
