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
from typing import TypedDict, Unpack

from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert

from dinamis import config
from dinamis.accounts.models import User
from dinamis.core.columns import values_of
from dinamis.core.errors import Conflict, Forbidden, ServiceError
from dinamis.core.validation import digits
from dinamis.extensions import db
from dinamis.membership.models import Entity, EntityStatus, Profile
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


def km2(value: Decimal | int | str | None) -> Decimal:
    """An exact area in km², quantised to 0.01 (half up); no value (an empty sum) is 0."""
    return Decimal(value if value is not None else 0).quantize(CENT, rounding=ROUND_HALF_UP)


def period_for(day: dt.date, period_kind: str = "year") -> str:
    """The period label of a date: "2027" (year) or "2027-Q1" (quarter)."""
    if period_kind == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


def is_period(period: str) -> bool:
    """Whether `period` is a year ("2027", digits 0-9) or a quarter ("2027-Q1") whose
    first day and the day after its last are in the calendar (0001 to 9998)."""
    year, sep, quarter = period.partition("-")
    return (
        digits(year)
        and len(year) == 4
        and 1 <= int(year) <= 9998
        and (quarter in ("Q1", "Q2", "Q3", "Q4") if sep else True)
    )


def validate_period(period: str) -> str:
    """Refuse a malformed period label with a clear message."""
    if not is_period(period):
        raise ServiceError(
            _("A period is a year (2027) or a quarter (2027-Q1), not %(p)s.", p=period)
        )
    return period


def get_account(
    entity_id: int | None, family: str, period: str, kind: str, *, lock: bool = False
) -> LedgerAccount:
    """The account for this key, created on first use; locked when `lock`."""
    if family not in values_of(Family):
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


class About(TypedDict, total=False):
    """What a posting is about, beside its kind and key: the words of whoever decided it
    and their id, the order or request it is for (its reference; an order's id too)."""

    reason: str | None
    reference: str | None
    order_id: int | None
    actor_id: int | None


def _post(
    kind: str,
    key: str,
    moves: Sequence[tuple[LedgerAccount, LedgerAccount, Decimal]],
    **about: Unpack[About],
) -> LedgerTransaction | None:
    """Post one transaction: each move takes `amount` from one account to another.

    Moves of nothing are left out, and when nothing moves at all no transaction
    is posted (None): the database refuses a transaction with fewer than two
    entries. `order_id` links the posting to the order it was made for (a
    foreign key).
    """
    session = db.session
    existing = session.scalar(
        select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)
    )
    if existing is not None:
        if existing.kind != kind or existing.reference != about.get("reference"):
            raise Conflict(_("This idempotency key was already used for another posting."))
        return existing
    moves = [(source, target, km2(amount)) for source, target, amount in moves]
    moves = [move for move in moves if move[2] > 0]
    if not moves:
        return None
    transaction = LedgerTransaction(kind=kind, idempotency_key=key, **about)
    session.add(transaction)
    session.flush()
    for source, target, amount in moves:
        session.add(
            LedgerEntry(transaction_id=transaction.id, account_id=source.id, amount=-amount)
        )
        session.add(LedgerEntry(transaction_id=transaction.id, account_id=target.id, amount=amount))
    session.flush()
    return transaction


def _entity_accounts(entity_id: int, family: str, period: str, *kinds: str) -> list[LedgerAccount]:
    # Always lock in the same order (available first) to avoid deadlocks.
    order = {k: i for i, k in enumerate(values_of(AccountKind))}
    return [
        get_account(entity_id, family, period, kind, lock=True)
        for kind in sorted(kinds, key=order.__getitem__)
    ]


def grant(
    entity: Entity, family: str, period: str, amount: Decimal, reason: str = "allowance:full"
) -> LedgerTransaction | None:
    """Grant an entity its free allowance for a family and period (idempotent);
    None for an allowance of nothing.

    `reason` is a code that the statement puts in words (see `reason_words`).
    """
    validate_period(period)
    source = get_account(None, family, period, AccountKind.GRANTS)
    (available,) = _entity_accounts(entity.id, family, period, AccountKind.AVAILABLE)
    return _post(
        PostingKind.GRANT,
        _grant_key(entity.id, family, period),
        [(source, available, amount)],
        reason=reason,
    )


def _grant_key(entity_id: int, family: str, period: str) -> str:
    return f"grant:{entity_id}:{family}:{period}"


# Allowances through an entity's life ------------------------------------------------

PRORATED, FULL = "prorated", "full"


def allowance_mode() -> str:
    """`prorated` or `full` (DINAMIS_ALLOWANCE_ON_JOINING)."""
    return str(config.current().allowance_on_joining)


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """The first and last day of a period ("2027" or "2027-Q2")."""
    validate_period(period)
    year, _sep, quarter = period.partition("-")
    if quarter:
        first_month = (int(quarter[1]) - 1) * 3 + 1
        start = dt.date(int(year), first_month, 1)
        end_month = first_month + 2
    else:
        start, end_month = dt.date(int(year), 1, 1), 12
    end = dt.date(int(year) + end_month // 12, end_month % 12 + 1, 1) - dt.timedelta(days=1)
    return start, end


def months_left(period: str, since: dt.date | None) -> tuple[int, int]:
    """(months of the period from `since`'s month on, months in the period).

    The month of `since` counts whole: an entity approved on 6 December gets
    December. No `since`, or one before the period: the whole period.
    """
    start, end = period_bounds(period)
    total = 3 if "-Q" in period else 12
    if since is None or since <= start:
        return total, total
    if since > end:
        return 0, total
    return (end.year - since.year) * 12 + end.month - since.month + 1, total


@dataclass(frozen=True)
class Entitlement:
    km2: Decimal
    reason: str  # "allowance:full" or "allowance:prorated:1/12"


def entitlement(rule_km2: Decimal, period: str, since: dt.date | None, mode: str) -> Entitlement:
    """What a rule of `rule_km2` per period gives an entity that joined on `since`.

    Prorated: rule * months left / months in the period, exact, rounded half
    up to 0.01 km². Full (or a member since before the period): the rule.
    """
    left, total = months_left(period, since)
    if mode == FULL or left == total:
        return Entitlement(km2(rule_km2) if left else ZERO, "allowance:full")
    return Entitlement(km2(Decimal(rule_km2) * left / total), f"allowance:prorated:{left}/{total}")


def current_periods(day: dt.date) -> dict[str, str]:
    """The periods running on `day`, by kind of rule: {"year": "2027", "quarter": "2027-Q1"}."""
    return {kind: period_for(day, kind) for kind in ("year", "quarter")}


@dataclass(frozen=True)
class OpenedPeriod:
    entity_id: int
    family: str
    period: str
    km2: Decimal
    new: bool = True  # False: it had been granted before


def _open(period: str, entity_id: int | None = None) -> list[OpenedPeriod]:
    period_kind = "quarter" if "-Q" in period else "year"
    start, end = period_bounds(period)
    session = db.session
    query = (
        select(Entity, AllowanceRule)
        .join(AllowanceRule, AllowanceRule.profile_id == Entity.profile_id)
        .where(
            Entity.status == EntityStatus.ACTIVE,
            AllowanceRule.period_kind == period_kind,
            AllowanceRule.km2 > 0,
            or_(Entity.membership_start.is_(None), Entity.membership_start <= end),
            # ended before the period, though not yet marked expired (that runs later)
            or_(Entity.membership_end.is_(None), Entity.membership_end >= start),
        )
        .order_by(Entity.id, AllowanceRule.family)
    )
    if entity_id is not None:
        query = query.where(Entity.id == entity_id)
    rows = session.execute(query).all()
    keys = [_grant_key(entity.id, rule.family, period) for entity, rule in rows]
    done = set(
        session.scalars(
            select(LedgerTransaction.idempotency_key).where(
                LedgerTransaction.idempotency_key.in_(keys)
            )
        )
    )
    mode, opened = allowance_mode(), []
    for (entity, rule), key in zip(rows, keys, strict=True):
        share = entitlement(rule.km2, period, entity.membership_start, mode)
        new = key not in done and share.km2 > 0
        if new:
            grant(entity, rule.family, period, share.km2, reason=share.reason)
        opened.append(OpenedPeriod(entity.id, rule.family, period, share.km2, new))
    return opened


def open_period(period: str) -> list[OpenedPeriod]:
    """Grant every active entity its allowances for `period` (idempotent).

    A year ("2027") opens the yearly rules; a quarter ("2027-Q1") the
    quarterly ones. An entity that joined during the period gets its share
    (`entitlement`), as it did when it was approved, so opening a running
    period again, or late, never gives more.
    """
    validate_period(period)
    return _open(period)


def open_current_periods(day: dt.date) -> list[OpenedPeriod]:
    """Open the year and the quarter running on `day` (the scheduled task; idempotent)."""
    return [line for period in current_periods(day).values() for line in _open(period)]


def open_for_entity(entity: Entity, day: dt.date) -> list[OpenedPeriod]:
    """Grant one entity its allowances for the periods running on `day` (at approval)."""
    db.session.flush()
    return [line for period in current_periods(day).values() for line in _open(period, entity.id)]


@dataclass(frozen=True)
class ProfileAdjustment:
    family: str
    period: str
    km2: Decimal  # positive: granted; negative: taken back


def change_profile(
    entity: Entity, old_profile_id: int, day: dt.date, key: str, actor_id: int | None = None
) -> list[ProfileAdjustment]:
    """After `entity` moved from `old_profile_id` to its current profile: post the difference.

    For each family of the running periods, the new rule minus the old one
    (prorated to the months left from `day` when the mode is `prorated`),
    posted as an adjustment whose reason names both profiles; a family the
    old profile did not have is granted for the first time. Taking back never
    takes more than is available (what is reserved or consumed stays). The
    caller opened the periods under the old profile first (`open_for_entity`).
    `key` names this change (idempotency).
    """
    if entity.status != EntityStatus.ACTIVE:
        return []  # nothing granted now; the next opening uses the new profile
    session = db.session
    profiles = {
        p.id: p.code
        for p in session.scalars(
            select(Profile).where(Profile.id.in_((old_profile_id, entity.profile_id)))
        )
    }
    mode, changes = allowance_mode(), []
    for period_kind, period in current_periods(day).items():
        rules: dict[int, dict[str, Decimal]] = {old_profile_id: {}, entity.profile_id: {}}
        for rule in session.scalars(
            select(AllowanceRule).where(
                AllowanceRule.profile_id.in_(tuple(rules)), AllowanceRule.period_kind == period_kind
            )
        ):
            rules[rule.profile_id][rule.family] = rule.km2
        left, total = months_left(period, day)
        share = Decimal(1) if mode == FULL else Decimal(left) / total
        how = FULL if mode == FULL or left == total else f"{PRORATED}:{left}/{total}"
        reason = f"profile:{profiles[old_profile_id]}>{profiles[entity.profile_id]}:{how}"
        for family in sorted(set(rules[old_profile_id]) | set(rules[entity.profile_id])):
            old = rules[old_profile_id].get(family, ZERO)
            new = rules[entity.profile_id].get(family, ZERO)
            diff = km2((new - old) * share)
            if diff == 0:
                continue
            granted = session.scalar(
                select(LedgerTransaction.id).where(
                    LedgerTransaction.idempotency_key == _grant_key(entity.id, family, period)
                )
            )
            if granted is None:
                if diff > 0:  # the first allowance of this family in the period
                    grant(entity, family, period, diff, reason=reason)
                    changes.append(ProfileAdjustment(family, period, diff))
                continue
            source = get_account(None, family, period, AccountKind.GRANTS)
            (available,) = _entity_accounts(entity.id, family, period, AccountKind.AVAILABLE)
            taken = diff
            note = reason
            if diff < 0:
                taken = -min(-diff, max(balance(available), ZERO))
                if taken != diff:
                    note = f"{reason}:short:{taken - diff}"
                if taken == 0:
                    continue
            moves = [(source, available, taken)] if taken > 0 else [(available, source, -taken)]
            _post(
                PostingKind.ADJUSTMENT,
                f"profile:{key}:{family}:{period}",
                moves,
                reason=note,
                actor_id=actor_id,
            )
            changes.append(ProfileAdjustment(family, period, taken))
    return changes


def reason_words(kind: str, reason: str | None, profile_names: dict[str, str]) -> str:
    """A posting's reason in the reader's language; a staff adjustment's own words as typed.

    Codes: "allowance:full", "allowance:prorated:1/12" (grants), and
    "profile:OLD>NEW:full|prorated:L/T[:short:KM2]" (profile changes).
    `profile_names` maps profile codes to names in the reader's language.
    """
    reason = reason or ""
    if kind == PostingKind.GRANT and reason in ("", "allowance", "allowance:full"):
        return _("allowance of the entity's profile, in full")
    parts = reason.split(":")
    if kind == PostingKind.GRANT and parts[:2] == ["allowance", "prorated"] and len(parts) == 3:
        left, _slash, total = parts[2].partition("/")
        return _(
            "allowance of the entity's profile, prorated to %(left)s month(s) of %(total)s",
            left=left,
            total=total,
        )
    if parts[0] == "profile" and len(parts) >= 3 and ">" in parts[1]:
        old, _gt, new = parts[1].partition(">")
        names = {"old": profile_names.get(old, old), "new": profile_names.get(new, new)}
        if parts[2] == PRORATED and len(parts) >= 4:
            left, _slash, total = parts[3].partition("/")
            text = _(
                "profile changed from %(old)s to %(new)s: the difference, "
                "prorated to %(left)s month(s) of %(total)s",
                left=left,
                total=total,
                **names,
            )
        else:
            text = _("profile changed from %(old)s to %(new)s: the difference, in full", **names)
        if "short" in parts:
            text += " " + _(
                "(%(km2)s km² could not be taken back: already reserved or used)",
                km2=parts[parts.index("short") + 1],
            )
        return text
    return reason


def adjust(
    actor: User, entity: Entity, family: str, period: str, amount: Decimal, reason: str, key: str
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
    posted = _post(
        PostingKind.ADJUSTMENT,
        key,
        moves,
        reason=reason.strip(),
        actor_id=getattr(actor, "id", None),
    )
    assert posted is not None  # the amount is not zero
    return posted


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


# The available balance, read under the account locks in a statement of its own
# (after the lock, so its snapshot sees every posting committed by whoever held the
# lock before; the `FOR UPDATE` statement's own snapshot may be older), from the
# account's few rows of quota's running totals, `LedgerTotal`, which the ledger's
# trigger keeps in each posting's own statement, rather than the sum of all its
# entries, which grows with every order of the period.
_AVAILABLE = text(
    "SELECT COALESCE(SUM(amount), 0) FROM ledger_totals WHERE account_id = :available"
)

# In one round trip: look the key up, post the transaction and its two entries when
# there is something free to hold (and the key is new), and report the earlier posting.
_RESERVE = text(
    """
    WITH done AS (
        SELECT id FROM ledger_transactions WHERE idempotency_key = :key
    ), posted AS (
        INSERT INTO ledger_transactions (kind, idempotency_key, reference, order_id)
        SELECT :kind, :key, :reference, :order_id
        -- Nothing free (a fully co-funded order): no transaction, as one needs entries.
        WHERE NOT EXISTS (SELECT FROM done) AND CAST(:free AS numeric) > 0
        RETURNING id
    ), entries AS (
        INSERT INTO ledger_entries (transaction_id, account_id, amount)
        SELECT posted.id, move.account_id, move.sign * CAST(:free AS numeric)
        FROM posted,
            (VALUES (CAST(:available AS integer), -1), (CAST(:reserved AS integer), 1))
                AS move (account_id, sign)
        ORDER BY move.sign
    )
    SELECT id FROM done
    """
).bindparams(bindparam("order_id", type_=Integer))


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
    rank = {k: i for i, k in enumerate(values_of(AccountKind))}
    wanted = sorted(kinds, key=rank.__getitem__)
    params = {"entity_id": entity_id, "family": family, "period": period, "kinds": wanted}
    # On the session's connection: no autoflush (what the caller has pending is
    # written after the lock).
    found: dict[str, int] = {
        kind: account_id
        for kind, account_id in db.session.connection().execute(_LOCK_ACCOUNTS, params)
    }
    if len(found) < len(wanted):  # first use of some of them: create, then lock all
        for kind in wanted:
            if kind not in found:
                get_account(entity_id, family, period, kind)
        found = dict(db.session.connection().execute(_LOCK_ACCOUNTS, params).all())
    return [found[kind] for kind in wanted]


@dataclass(frozen=True)
class Hold:
    """An order's split between what is free now and what is co-funded, taken under its
    entity's locked available and reserved accounts (held until the commit): what
    `place` posts."""

    split: Split
    family: str
    period: str
    available: int
    reserved: int


def hold(entity: Entity, family: str, period: str, charged: Decimal) -> Hold:
    """Lock the entity's available and reserved accounts until the commit and split
    `charged` km² between what is available now (free) and the rest (co-funded).

    The first half of `reserve`: a submission holds, writes its order with the
    split, then `place`s the reservation, which the running totals then count
    under the order's sensor at once. Callers should hold as late as they can in
    their transaction: the lock is held until it commits.
    """
    charged = km2(charged)
    if charged <= 0:
        raise ServiceError(_("The charged area must be positive."))
    if family not in values_of(Family):
        raise ServiceError(_("Unknown quota family: %(f)s.", f=family))
    available, reserved = _lock_entity_accounts(
        entity.id, family, period, AccountKind.AVAILABLE, AccountKind.RESERVED
    )
    now = db.session.connection().execute(_AVAILABLE, {"available": available}).scalar_one()
    free = min(max(km2(now), ZERO), charged)
    return Hold(Split(free=free, cofunded=charged - free), family, period, available, reserved)


def place(held: Hold, reference: str, *, order_id: int | None = None) -> Split:
    """Post the held free part as the reservation of `reference` (idempotent: a
    retry posts nothing and reports what was reserved the first time).

    `order_id`: the order the posting is for (a foreign key, checked at commit).
    """
    done = (
        db.session.connection()
        .execute(
            _RESERVE,
            {
                "key": f"reserve:{reference}:{held.family}:{held.period}",
                "kind": PostingKind.RESERVE,
                "reference": reference,
                "order_id": order_id,
                "free": held.split.free,
                "available": held.available,
                "reserved": held.reserved,
            },
        )
        .scalar()
    )
    if done is not None:  # a retry: report what was reserved the first time
        first = db.session.get_one(LedgerTransaction, done)
        free = km2(sum((e.amount for e in first.entries if e.amount > 0), ZERO))
        charged = held.split.free + held.split.cofunded
        return Split(free=free, cofunded=charged - free)
    return held.split


def reserve(
    entity: Entity,
    family: str,
    period: str,
    charged: Decimal,
    reference: str,
    *,
    order_id: int | None = None,
) -> Split:
    """Hold the free part of an order (what is available now); return the split.

    `hold`, then `place`: for a caller whose order is written already
    (`order_id`, a foreign key), or whose postings need no sensor.
    """
    return place(hold(entity, family, period, charged), reference, order_id=order_id)


def cofund(
    entity: Entity,
    family: str,
    period: str,
    amount: Decimal,
    reference: str,
    *,
    order_id: int | None = None,
) -> None:
    """Record the co-funded km² of an order once its quote is accepted."""
    source = get_account(None, family, period, AccountKind.COFUNDING)
    (held,) = _entity_accounts(entity.id, family, period, AccountKind.COFUNDED_RESERVED)
    _post(
        PostingKind.COFUND,
        f"cofund:{reference}:{family}:{period}",
        [(source, held, amount)],
        reference=reference,
        order_id=order_id,
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
    entity: Entity,
    family: str,
    period: str,
    reference: str,
    delivered: Decimal,
    step: str,
    *,
    order_id: int | None = None,
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
        order_id=order_id,
    )
    return Split(free=free, cofunded=paid)


def release(
    entity: Entity,
    family: str,
    period: str,
    reference: str,
    step: str,
    *,
    order_id: int | None = None,
) -> Split:
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
        order_id=order_id,
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
