"""Usage reports: what users did with the imagery, reviewed by staff."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
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
