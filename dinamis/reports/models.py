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

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
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
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.accounts.models import User
from dinamis.core.db import Base
from dinamis.membership.models import Entity
from dinamis.orders.models import Order, Quote


class ReportKind:
    ORDER = "order"  # after a delivered order
    ANNUAL = "annual"  # once a year, for the user's use of the catalogue
    ALL = (ORDER, ANNUAL)


class ReportStatus:
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"  # sent back by staff with a comment; editable again
    ACCEPTED = "accepted"
    ALL = (DRAFT, SUBMITTED, RETURNED, ACCEPTED)
    EDITABLE = (DRAFT, RETURNED)


class UsageReport(Base):
    __tablename__ = "usage_reports"
    __table_args__ = (
        CheckConstraint(f"kind IN {ReportKind.ALL!r}", name="kind"),
        CheckConstraint(f"status IN {ReportStatus.ALL!r}", name="status"),
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

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default=ReportStatus.DRAFT, index=True)
    entity_id: Mapped[int] = mapped_column(
        ForeignKey("entities.id", ondelete="RESTRICT"), index=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    year: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[dt.date] = mapped_column(Date)
    project: Mapped[str] = mapped_column(String(300), default="")
    themes: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    scene_ids: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list)
    products: Mapped[str] = mapped_column(Text, default="")
    benefit: Mapped[str] = mapped_column(Text, default="")
    comments: Mapped[str] = mapped_column(Text, default="")
    staff_comment: Mapped[str | None] = mapped_column(Text)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    submitted_at: Mapped[dt.datetime | None]
    reviewed_at: Mapped[dt.datetime | None]
    reminded_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    entity: Mapped[Entity] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    order: Mapped[Order | None] = relationship()
    publications: Mapped[list[Publication]] = relationship(
        back_populates="report", order_by="Publication.id", cascade="all, delete-orphan"
    )

    @property
    def editable(self) -> bool:
        return self.status in ReportStatus.EDITABLE

    def overdue_on(self, day: dt.date) -> bool:
        return self.status in ReportStatus.EDITABLE and day > self.due_on


class Publication(Base):
    __tablename__ = "report_publications"
    __table_args__ = (CheckConstraint("year BETWEEN 1900 AND 2200", name="year_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("usage_reports.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(500))
    year: Mapped[int] = mapped_column(Integer)
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

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date)  # the month's first day, in UTC
    entity_id: Mapped[int | None] = mapped_column(Integer)
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

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    period: Mapped[str] = mapped_column(String(10))
    entity_id: Mapped[int] = mapped_column(Integer)
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
