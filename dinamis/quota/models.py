"""The quota ledger: double-entry, append-only, in km².

Every movement of km² is a `LedgerTransaction` with at least two
`LedgerEntry` rows whose amounts sum to zero. Balances are sums of entries.
The database itself refuses to update or delete a posted row and refuses a
transaction whose entries do not balance (see the migration's triggers).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.core.db import Base

KM2 = Numeric(14, 2)  # km² with two decimals (0.01 km² = 1 ha)
EUR = Numeric(14, 2)


class Family:
    """What an allowance is for. Configurable in data; these are the defaults."""

    TASKING = "tasking"
    ARCHIVE = "archive"
    NEO = "neo"
    DSM = "dsm"
    ALL = (TASKING, ARCHIVE, NEO, DSM)


class AccountKind:
    # An entity's accounts, per family and period
    AVAILABLE = "available"  # free km² still usable
    RESERVED = "reserved"  # free km² held by orders under way
    CONSUMED = "consumed"  # free km² delivered
    COFUNDED_RESERVED = "cofunded_reserved"  # co-funded km² held by orders
    COFUNDED_CONSUMED = "cofunded_consumed"  # co-funded km² delivered
    # The programme's own accounts, per family and period
    GRANTS = "programme_grants"  # source of allowances and adjustments
    COFUNDING = "programme_cofunding"  # source of co-funded km²
    ENTITY_KINDS = (AVAILABLE, RESERVED, CONSUMED, COFUNDED_RESERVED, COFUNDED_CONSUMED)
    PROGRAMME_KINDS = (GRANTS, COFUNDING)
    ALL = ENTITY_KINDS + PROGRAMME_KINDS


class PostingKind:
    GRANT = "grant"
    ADJUSTMENT = "adjustment"
    RESERVE = "reserve"
    RELEASE = "release"
    CONSUME = "consume"
    COFUND = "cofund"
    COFUND_RELEASE = "cofund_release"
    COFUND_CONSUME = "cofund_consume"
    ALL = (GRANT, ADJUSTMENT, RESERVE, RELEASE, CONSUME, COFUND, COFUND_RELEASE, COFUND_CONSUME)


class LedgerAccount(Base):
    """One account: an entity's (or the programme's) km² of a family in a period."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint(f"kind IN {AccountKind.ALL!r}", name="kind"),
        CheckConstraint(
            f"(entity_id IS NULL) = (kind IN {AccountKind.PROGRAMME_KINDS!r})",
            name="owner_matches_kind",
        ),
        # NULLS NOT DISTINCT: one programme account per kind, family, period.
        UniqueConstraint(
            "entity_id",
            "family",
            "period",
            "kind",
            name="uq_ledger_accounts_key",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id", ondelete="RESTRICT"))
    family: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(10))  # "2027" or "2027-Q1"
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class LedgerTransaction(Base):
    """One posting: why km² moved, carrying an idempotency key."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        CheckConstraint(f"kind IN {PostingKind.ALL!r}", name="kind"),
        CheckConstraint(
            "order_id IS NULL OR reference = 'order:' || order_id", name="order_reference"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    reason: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(100), index=True)  # e.g. "order:42"
    # The order the posting is for: the link every query follows (the reference
    # is its label, as statements show it).
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="RESTRICT"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    entries: Mapped[list[LedgerEntry]] = relationship(
        back_populates="transaction", order_by="LedgerEntry.id"
    )


class LedgerEntry(Base):
    """A signed amount of km² on one account."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        Index("ix_ledger_entries_account_id", "account_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal] = mapped_column(KM2)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship()


class LedgerTotal(Base):
    """Quota's running balances: the sum of an entity account's entries, per sensor of
    the order posted for.

    `sensor` is the sensor of the order a transaction links to (`order_id`),
    NULL for other postings (grants, adjustments). `granted` sums the entries
    of grant and adjustment postings, `amount` all of them; an account's
    balance is the sum of its rows. Written only by the ledger's trigger on
    `ledger_entries` (append-only, so insertion is the only case), in the
    posting's own statement; the programme's accounts are not summed (every
    co-funded order posts on them: one row there would make every order
    queue). `quota.service.reserve` reads the available balance from here;
    the statistics (reports) read their sums from here too.
    """

    __tablename__ = "ledger_totals"
    __table_args__ = (
        UniqueConstraint(
            "account_id", "sensor", name="uq_ledger_totals_key", postgresql_nulls_not_distinct=True
        ),
        Index(
            "ix_ledger_totals_period",
            "period",
            postgresql_include=["entity_id", "family", "kind", "sensor", "granted", "amount"],
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="CASCADE"))
    # The account's key, copied (an account's key never changes): readers
    # filter and group on it without joining the accounts.
    entity_id: Mapped[int] = mapped_column(Integer)
    family: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(20))
    sensor: Mapped[str | None] = mapped_column(String(30))
    granted: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))


class AllowanceRule(Base):
    """Free km² granted to each entity of a profile, per family and period."""

    __tablename__ = "allowance_rules"
    __table_args__ = (
        UniqueConstraint("profile_id", "family", name="uq_allowance_rules_profile_family"),
        CheckConstraint("km2 >= 0", name="km2_positive"),
        CheckConstraint("period_kind IN ('year', 'quarter')", name="period_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    family: Mapped[str] = mapped_column(String(20))
    period_kind: Mapped[str] = mapped_column(String(10), default="year")
    km2: Mapped[Decimal] = mapped_column(KM2)


class PriceRule(Base):
    """Co-funding price in euros per km² (excluding tax) for a profile and product."""

    __tablename__ = "price_rules"
    __table_args__ = (
        UniqueConstraint(
            "profile_id", "sensor", "order_kind", name="uq_price_rules_profile_sensor_kind"
        ),
        CheckConstraint("eur_per_km2 >= 0", name="price_positive"),
        CheckConstraint("order_kind IN ('tasking', 'archive')", name="order_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    sensor: Mapped[str] = mapped_column(String(30))
    order_kind: Mapped[str] = mapped_column(String(10))
    eur_per_km2: Mapped[Decimal] = mapped_column(EUR)
