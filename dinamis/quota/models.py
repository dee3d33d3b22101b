"""The quota ledger: double-entry, append-only, in km².

Every movement of km² is a `LedgerTransaction` with at least two
`LedgerEntry` rows whose amounts sum to zero. Balances are sums of entries.
The database itself refuses to update or delete a posted row and refuses a
transaction whose entries do not balance (see the migration's triggers).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.core.columns import BigIntPk, CreatedAt, IntPk, UserRef, choice
from dinamis.core.db import Base, database_objects, sql_list

KM2 = Numeric(14, 2)  # km² with two decimals (0.01 km² = 1 ha)
EUR = Numeric(14, 2)


# What an allowance is for. Configurable in data; these are the defaults.
Family = StrEnum("Family", "TASKING ARCHIVE NEO DSM")


AccountKind = StrEnum(
    "AccountKind",
    {
        # An entity's accounts, per family and period
        "AVAILABLE": "available",  # free km² still usable
        "RESERVED": "reserved",  # free km² held by orders under way
        "CONSUMED": "consumed",  # free km² delivered
        "COFUNDED_RESERVED": "cofunded_reserved",  # co-funded km² held by orders
        "COFUNDED_CONSUMED": "cofunded_consumed",  # co-funded km² delivered
        # The programme's own accounts, per family and period
        "GRANTS": "programme_grants",  # source of allowances and adjustments
        "COFUNDING": "programme_cofunding",  # source of co-funded km²
    },
)
PROGRAMME_KINDS = (AccountKind.GRANTS, AccountKind.COFUNDING)
PostingKind = StrEnum(
    "PostingKind", "GRANT ADJUSTMENT RESERVE RELEASE CONSUME COFUND COFUND_RELEASE COFUND_CONSUME"
)


class LedgerAccount(Base):
    """One account: an entity's (or the programme's) km² of a family in a period."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint(
            f"(entity_id IS NULL) = (kind IN ({sql_list(PROGRAMME_KINDS)}))",
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

    id: Mapped[IntPk]
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id", ondelete="RESTRICT"))
    family: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(10))  # "2027" or "2027-Q1"
    kind: Mapped[str] = choice(AccountKind, 20)
    created_at: Mapped[CreatedAt]


class LedgerTransaction(Base):
    """One posting: why km² moved, carrying an idempotency key."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        CheckConstraint(
            "order_id IS NULL OR reference = 'order:' || order_id", name="order_reference"
        ),
    )

    id: Mapped[IntPk]
    kind: Mapped[str] = choice(PostingKind, 20)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    reason: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(100), index=True)  # e.g. "order:42"
    # The order the posting is for: the link every query follows (the reference
    # is its label, as statements show it). Checked at once: an order is written
    # before anything is posted for it (orders.service.submit), so the running
    # totals find its sensor as the posting is written.
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="RESTRICT"), index=True
    )
    actor_id: Mapped[UserRef | None]
    created_at: Mapped[CreatedAt]

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

    id: Mapped[IntPk]
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal] = mapped_column(KM2)
    created_at: Mapped[CreatedAt]

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship()


class LedgerTotal(Base):
    """Quota's running balances: the sum of an entity account's entries, per sensor of
    the order posted for.

    `sensor` is the sensor of the order a transaction links to (`order_id`,
    written before any posting for it), NULL for other postings (grants,
    adjustments, surface models'). `granted` sums the entries
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

    id: Mapped[BigIntPk]
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

    id: Mapped[IntPk]
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
        CheckConstraint("order_kind IN ('tasking', 'archive', 'dsm')", name="order_kind"),
    )

    id: Mapped[IntPk]
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    sensor: Mapped[str] = mapped_column(String(30))
    order_kind: Mapped[str] = mapped_column(String(10))
    eur_per_km2: Mapped[Decimal] = mapped_column(EUR)


# What the database itself holds the ledger to, as migrations 0004 and 0024 create it
# (tests/core/test_migrations.py compares it with the migrated schema): no update,
# delete or truncate of a posted row; at commit, every transaction balances and has
# at least two entries.
APPEND_ONLY = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the quota ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
"""


def _checked_at_commit(table: str, check: str, variable: str, body: str) -> str:
    """A rule every ledger transaction meets once all its rows are written: the
    function `ledger_check_<check>`, whose `body` raises when the rule is broken
    (with `variable` declared for it), run at commit by the deferred constraint
    trigger `<table>_<check>` for each row inserted into `table`."""
    return f"""
CREATE FUNCTION ledger_check_{check}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    {variable};
BEGIN
{body}
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER {table}_{check} AFTER INSERT ON {table}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_{check}();
"""


BALANCED = _checked_at_commit(
    "ledger_entries",
    "balanced",
    "total numeric",
    """    SELECT coalesce(sum(amount), 0) INTO total
      FROM ledger_entries WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (its entries sum to %)',
            NEW.transaction_id, total USING ERRCODE = 'check_violation';
    END IF;""",
)

TWO_ENTRIES = _checked_at_commit(
    "ledger_transactions",
    "two_entries",
    "entries integer",
    """    SELECT count(*) INTO entries FROM ledger_entries WHERE transaction_id = NEW.id;
    IF entries < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entries; a transaction moves km² '
            'from one account to another, so it has at least two', NEW.id, entries
            USING ERRCODE = 'check_violation';
    END IF;""",
)

# What a posting adds to the running balance of an account and sensor (made when missing).
_ADD_TO_TOTAL = """ON CONFLICT (account_id, sensor) DO UPDATE
        SET granted = t.granted + excluded.granted, amount = t.amount + excluded.amount;"""


def _per_statement(trigger: str, table: str, rows: str, function: str) -> str:
    """The trigger that runs `function` once per statement inserting into `table`,
    the statement's rows as the table `rows`."""
    return f"""CREATE TRIGGER {trigger} AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS {rows}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();"""


# Quota's running balances per account and sensor (ledger_totals), kept by a trigger on
# the entries, as migrations 0015 and 0027 create it (0041 dropped 0029's trigger on
# orders, which moved a reservation posted before its order to the order's sensor).
RUNNING_TOTALS = f"""
CREATE FUNCTION ledger_totals_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_totals AS t
           (account_id, entity_id, family, period, kind, sensor, granted, amount)
    SELECT e.account_id, a.entity_id, a.family, a.period, a.kind, o.sensor,
           coalesce(sum(e.amount) FILTER (WHERE tx.kind IN ('grant', 'adjustment')), 0),
           sum(e.amount)
      FROM new_entries e
      JOIN ledger_accounts a ON a.id = e.account_id
      JOIN ledger_transactions tx ON tx.id = e.transaction_id
      LEFT JOIN orders o ON o.id = tx.order_id
     WHERE a.entity_id IS NOT NULL
     GROUP BY e.account_id, a.id, o.sensor
     ORDER BY e.account_id, o.sensor
    {_ADD_TO_TOTAL}
    RETURN NULL;
END $$;
{_per_statement("ledger_entries_totals", "ledger_entries", "new_entries", "ledger_totals_add")}
"""  # noqa: S608 (constant text)

database_objects(APPEND_ONLY + BALANCED + TWO_ENTRIES + RUNNING_TOTALS)
