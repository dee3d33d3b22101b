"""Usage reports: what users did with the imagery, reviewed by staff.

Also the totals the staff statistics read (`DownloadTotal`, `QuoteTotal`):
sums of the download log and the accepted quotes, kept by database triggers
in the same transaction as the rows they sum (migration 0015_stats_totals),
so never behind those rows. The ledger's sums are quota's own
(`quota.models.LedgerTotal`), which the statistics read.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from textwrap import dedent, indent

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.accounts.models import User
from dinamis.core.columns import (
    BigIntPk,
    CreatedAt,
    EntityRef,
    IntPk,
    Progress,
    UpdatedAt,
    UserRef,
    choice,
    part_of,
    within,
)
from dinamis.core.db import Base, database_objects
from dinamis.membership.models import Entity
from dinamis.orders.models import Order, Quote

# RETURNED: sent back by staff with a comment, editable again.
ReportStatus = StrEnum("ReportStatus", "DRAFT SUBMITTED RETURNED ACCEPTED")
# A report its author may still change.
EDITABLE_STATUSES = (ReportStatus.DRAFT, ReportStatus.RETURNED)
# ORDER: after a delivered order; ANNUAL: once a year, for the user's use of the catalogue.
ReportKind = StrEnum("ReportKind", "ORDER ANNUAL")


class UsageReport(Base):
    __tablename__ = "usage_reports"
    __table_args__ = (
        CheckConstraint("(kind = 'order') = (order_id IS NOT NULL)", name="order_report_has_order"),
        # One report per order; one yearly report per user and year.
        UniqueConstraint("order_id", name="uq_usage_reports_order"),
        Index(
            "uq_usage_reports_annual",
            "author_id",
            "year",
            unique=True,
            postgresql_where=text("kind = 'annual'"),
        ),
        # The statistics' counts of a year's reports by status, and the overdue
        # ones, from the index alone (stats.activity).
        Index(
            "ix_usage_reports_year_status",
            "year",
            "status",
            postgresql_include=["entity_id", "due_on"],
        ),
    )

    id: Mapped[IntPk]
    kind: Mapped[str] = choice(ReportKind, 10)
    status: Mapped[str] = choice(ReportStatus, 10, default=ReportStatus.DRAFT, index=True)
    entity_id: Mapped[EntityRef]
    author_id: Mapped[UserRef] = mapped_column(index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    year: Mapped[int]
    due_on: Mapped[dt.date]
    project: Mapped[str] = mapped_column(String(300), default="")
    themes: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    scene_ids: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list)
    products: Mapped[str] = mapped_column(Text, default="")
    benefit: Mapped[str] = mapped_column(Text, default="")
    comments: Mapped[str] = mapped_column(Text, default="")
    staff_comment: Mapped[str | None] = mapped_column(Text)
    reviewer_id: Mapped[UserRef | None]
    submitted_at: Mapped[dt.datetime | None]
    reviewed_at: Mapped[dt.datetime | None]
    reminded_at: Mapped[dt.datetime | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    entity: Mapped[Entity] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    order: Mapped[Order | None] = relationship()
    publications: Mapped[list[Publication]] = relationship(
        back_populates="report", order_by="Publication.id", cascade="all, delete-orphan"
    )

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE_STATUSES

    def overdue_on(self, day: dt.date) -> bool:
        return self.status in EDITABLE_STATUSES and day > self.due_on


class Publication(Base):
    __tablename__ = "report_publications"

    id: Mapped[IntPk]
    report_id: Mapped[int] = part_of("usage_reports")
    title: Mapped[str] = mapped_column(String(500))
    year: Mapped[int] = within(1900, 2200, check="year_range")
    doi: Mapped[str | None] = mapped_column(String(200))

    report: Mapped[UsageReport] = relationship(back_populates="publications")

    @property
    def doi_url(self) -> str | None:
        return f"https://doi.org/{self.doi}" if self.doi else None


class DownloadTotal(Base):
    """Downloads and bytes sent per month (UTC), entity and collection.

    Written only by the triggers on `downloads` (insert, update, delete,
    truncate); a row whose count falls to zero is deleted. No foreign key on
    `entity_id`: when an entity is deleted its downloads' `entity_id` is set to
    NULL, and the update trigger moves their counts to the NULL row.
    """

    __tablename__ = "download_totals"
    __table_args__ = (
        UniqueConstraint(
            "month",
            "entity_id",
            "collection_id",
            name="uq_download_totals_key",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint("extract(day FROM month) = 1", name="month_first_day"),
    )

    id: Mapped[BigIntPk]
    month: Mapped[dt.date]  # the month's first day, in UTC
    entity_id: Mapped[int | None]
    collection_id: Mapped[str] = mapped_column(String(100))
    downloads: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)


class QuoteTotal(Base):
    """Accepted quotes' euros (excluding tax) per period, entity, sensor and family of the order.

    Written only by the triggers on `quotes` (insert, update, delete) and on
    `orders` (delete); an order's period, entity, sensor and family are set
    when it is created and never change.
    """

    __tablename__ = "quote_totals"
    __table_args__ = (
        UniqueConstraint(
            "period",
            "entity_id",
            "sensor",
            "family",
            name="uq_quote_totals_key",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[BigIntPk]
    period: Mapped[str] = mapped_column(String(10))
    entity_id: Mapped[int]
    sensor: Mapped[str] = mapped_column(String(30))
    family: Mapped[str] = mapped_column(String(20))
    excluding_tax: Mapped[Decimal] = mapped_column(Numeric(14, 2))


# Indexes for the statistics on the orders' tables, declared here, next to the
# figures that need them: the period's orders read from the index alone
# (120,000 small entries instead of the 80 MB table with its AOIs) for
# stats.orders_by_state; the accepted quotes of an order for the triggers.
Index(
    "ix_orders_period_stats",
    Order.period,
    postgresql_include=["id", "status", "entity_id", "sensor", "family", "charged_km2"],
)
Index(
    "ix_quotes_accepted",
    Quote.order_id,
    postgresql_include=["excluding_tax"],
    postgresql_where=text("status = 'accepted'"),
)


def _add_to_totals(
    totals: str, key: tuple[str, ...], sums: tuple[str, ...], rows: str, having: str = ""
) -> str:
    """One statement of a totals trigger: the `rows` selected (the `key` columns, then
    the `sums`), grouped by key, added to the `totals` row of their key (made when
    missing). In key order, so that two statements lock the rows they share in the
    same order; `having` leaves out the groups that would change nothing."""
    ranks = ", ".join(str(rank) for rank in range(1, len(key) + 1))
    kept = f"\n        HAVING {having}" if having else ""
    added = ", ".join(f"{name} = t.{name} + excluded.{name}" for name in sums)
    return f"""INSERT INTO {totals} AS t ({", ".join((*key, *sums))})
{indent(dedent(rows).strip(), " " * 8)}
         GROUP BY {ranks}{kept}
         ORDER BY {ranks}
        ON CONFLICT ({", ".join(key)}) DO UPDATE
            SET {added};"""  # noqa: S608 (constant text)


# The sums per month and collection of the download log, and per period and product
# of the accepted quotes' euros; what each kind of statement on the rows adds to them
# (a statement's rows are `new_<table>` and `old_<table>`, see _changes_triggers).
_DOWNLOAD_TOTALS = (
    "download_totals",
    ("month", "entity_id", "collection_id"),
    ("downloads", "bytes"),
)
_QUOTE_TOTALS = ("quote_totals", ("period", "entity_id", "sensor", "family"), ("excluding_tax",))
_DOWNLOADS_INSERTED = _add_to_totals(
    *_DOWNLOAD_TOTALS,
    """
SELECT download_month(created_at), entity_id, collection_id, count(*), sum(bytes)
  FROM new_downloads
""",
)
_DOWNLOADS_UPDATED = _add_to_totals(
    *_DOWNLOAD_TOTALS,
    """
SELECT month, entity_id, collection_id, sum(n), sum(b)
  FROM (SELECT download_month(created_at) AS month, entity_id, collection_id,
               -1 AS n, -bytes AS b
          FROM old_downloads
        UNION ALL
        SELECT download_month(created_at), entity_id, collection_id, 1, bytes
          FROM new_downloads) AS delta
""",
    having="sum(n) <> 0 OR sum(b) <> 0",
)
_DOWNLOADS_DELETED = _add_to_totals(
    *_DOWNLOAD_TOTALS,
    """
SELECT download_month(created_at), entity_id, collection_id, -count(*), -sum(bytes)
  FROM old_downloads
""",
)
_QUOTES_INSERTED = _add_to_totals(
    *_QUOTE_TOTALS,
    """
SELECT o.period, o.entity_id, o.sensor, o.family, sum(q.excluding_tax)
  FROM new_quotes q JOIN orders o ON o.id = q.order_id
 WHERE q.status = 'accepted'
""",
)
_QUOTES_UPDATED = _add_to_totals(
    *_QUOTE_TOTALS,
    """
SELECT o.period, o.entity_id, o.sensor, o.family, sum(d.euros)
  FROM (SELECT order_id, -excluding_tax AS euros FROM old_quotes
         WHERE status = 'accepted'
        UNION ALL
        SELECT order_id, excluding_tax FROM new_quotes
         WHERE status = 'accepted') AS d
  JOIN orders o ON o.id = d.order_id
""",
    having="sum(d.euros) <> 0",
)
_QUOTES_DELETED = _add_to_totals(
    *_QUOTE_TOTALS,
    """
SELECT o.period, o.entity_id, o.sensor, o.family, -sum(q.excluding_tax)
  FROM old_quotes q JOIN orders o ON o.id = q.order_id
 WHERE q.status = 'accepted'
""",
)


# The statistics' totals of downloads and quotes kept by triggers, as migration 0015
# creates them (tests/core/test_migrations.py compares them with the migrated schema).
TOTALS_FUNCTIONS = f"""
-- The totals' month of a download: the first day of its month in UTC.
CREATE FUNCTION download_month(created_at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date
$$;

CREATE FUNCTION download_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_DOWNLOADS_INSERTED}
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        {_DOWNLOADS_UPDATED}
    ELSE  -- DELETE
        {_DOWNLOADS_DELETED}
    END IF;
    DELETE FROM download_totals t
     USING (SELECT DISTINCT download_month(created_at) AS month, entity_id, collection_id
              FROM old_downloads) AS o
     WHERE t.month = o.month AND t.collection_id = o.collection_id
       AND t.entity_id IS NOT DISTINCT FROM o.entity_id AND t.downloads = 0;
    RETURN NULL;
END $$;

-- Accepted quotes' euros: + the new rows accepted, - the old rows accepted,
-- counted where their order is (period, entity, sensor, family).
CREATE FUNCTION quote_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_QUOTES_INSERTED}
    ELSIF TG_OP = 'UPDATE' THEN
        {_QUOTES_UPDATED}
    ELSE  -- DELETE (the quotes of a deleted order: already taken off, see below)
        {_QUOTES_DELETED}
    END IF;
    RETURN NULL;
END $$;

-- An order deleted: its accepted quotes are taken off while it is still there
-- (its quotes are then deleted by the foreign key's cascade, and the quotes'
-- trigger no longer finds the order).
CREATE FUNCTION quote_totals_order_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE quote_totals t
       SET excluding_tax = t.excluding_tax - q.euros
      FROM (SELECT sum(excluding_tax) AS euros FROM quotes
             WHERE order_id = OLD.id AND status = 'accepted') AS q
     WHERE q.euros IS NOT NULL AND t.period = OLD.period AND t.entity_id = OLD.entity_id
       AND t.sensor = OLD.sensor AND t.family = OLD.family;
    RETURN OLD;
END $$;

CREATE FUNCTION download_totals_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE download_totals;
    RETURN NULL;
END $$;
"""  # noqa: S608 (constant text)


def _changes_triggers(table: str, function: str) -> str:
    """Triggers that run `function` once per statement inserting, updating or deleting
    rows of `table`, with the statement's rows as `new_<table>` and `old_<table>`."""
    return f"""
CREATE TRIGGER {table}_totals_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_{table}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER {table}_totals_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_{table} NEW TABLE AS new_{table}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER {table}_totals_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_{table}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
"""


TOTALS_TRIGGERS = (
    _changes_triggers("downloads", "download_totals_apply")
    + _changes_triggers("quotes", "quote_totals_apply")
    + """
CREATE TRIGGER downloads_totals_truncate AFTER TRUNCATE ON downloads
    FOR EACH STATEMENT EXECUTE FUNCTION download_totals_truncate();
CREATE TRIGGER orders_quote_totals BEFORE DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION quote_totals_order_gone();
"""
)

database_objects(TOTALS_FUNCTIONS + TOTALS_TRIGGERS)


# QUEUED: waiting for a worker; RUNNING: a worker makes it (progress %, step); READY:
# the file is served; FAILED: every attempt failed, staff read the error.
YearlyPdfStatus = StrEnum("YearlyPdfStatus", "QUEUED RUNNING READY FAILED")
PDF_STATUS_WORDS: dict[str, LazyString] = {
    YearlyPdfStatus.QUEUED: _l("queued"),
    YearlyPdfStatus.RUNNING: _l("being made"),
    YearlyPdfStatus.READY: _l("ready"),
    YearlyPdfStatus.FAILED: _l("failed"),
}


class YearlyPdf(Base):
    """A yearly PDF report made by a worker: the programme's (no entity) or an entity's.

    Staff (or the entity's Referent) ask for it; the job `yearly_pdf` makes it and
    keeps the file here, in the database, so any worker machine can make it and any
    web process serve it.
    """

    __tablename__ = "yearly_pdfs"
    __table_args__ = (Index("ix_yearly_pdfs_year_entity_id_id", "year", "entity_id", "id"),)

    id: Mapped[IntPk]
    year: Mapped[int]
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    requested_by_id: Mapped[UserRef]
    language: Mapped[str] = mapped_column(String(5))  # the requester's, at the time
    status: Mapped[str] = choice(YearlyPdfStatus, 10, default=YearlyPdfStatus.QUEUED)
    progress: Mapped[Progress]
    step: Mapped[str | None] = mapped_column(String(20))  # reports.documents.STEPS
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)  # for staff
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int | None]
    created_at: Mapped[CreatedAt]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]

    entity: Mapped[Entity | None] = relationship()
    requested_by: Mapped[User] = relationship()

    @property
    def file_name(self) -> str:
        if self.entity_id is None:
            return f"dinamis-{self.year}.pdf"
        return f"dinamis-{self.year}-entity-{self.entity_id}.pdf"
