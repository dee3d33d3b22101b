"""A request for a Digital Surface Model, its timeline, and the words of its states."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.core.columns import Progress, UserRef, choice, part_of
from dinamis.core.db import Base, sql_list
from dinamis.orders.models import ProductRequest, StatusChange
from dinamis.quota.models import EUR

# AWAITING_QUOTE: beyond the allowance, the Referent accepts a quote first; QUEUED:
# waiting for a worker; RUNNING: a worker computes it (progress %).
DsmStatus = StrEnum("DsmStatus", "AWAITING_QUOTE QUEUED RUNNING DELIVERED FAILED CANCELLED")
DSM_ENDED = (DsmStatus.DELIVERED, DsmStatus.FAILED, DsmStatus.CANCELLED)
DSM_STATUS_WORDS: dict[str, LazyString] = {
    DsmStatus.AWAITING_QUOTE: _l("awaiting the quote's acceptance"),
    DsmStatus.QUEUED: _l("queued"),
    DsmStatus.RUNNING: _l("being computed"),
    DsmStatus.DELIVERED: _l("delivered"),
    DsmStatus.FAILED: _l("failed"),
    DsmStatus.CANCELLED: _l("cancelled"),
}


# Why a computation failed, as a code; the person reads it in their language
# (service.failure_text), staff read the engine's own message and log. ENGINE: the
# photogrammetry gave no usable surface; TIMEOUT: over the time limit; TRANSIENT:
# transient failures, retried until the attempts ran out; WORKER_LOST: the worker died
# and the attempts ran out; FILES: a source image is missing from the store.
Failure = StrEnum("Failure", "ENGINE TIMEOUT TRANSIENT WORKER_LOST FILES")


class DsmRequest(ProductRequest, Base):
    """A member's request for a surface model over an AOI of a stereo group's overlap."""

    __tablename__ = "dsm_requests"
    __table_args__ = (
        CheckConstraint("charged_km2 > 0 AND free_km2 >= 0 AND cofunded_km2 >= 0", name="areas"),
        CheckConstraint("resolution_m > 0", name="resolution_positive"),
        CheckConstraint(
            f"failure_code IS NULL OR failure_code IN ({sql_list(Failure)})",
            name="failure_code",
        ),
    )

    reference_prefix = "dsm"

    status: Mapped[str] = choice(DsmStatus, 20, index=True)
    # The scene it was asked from, and its stereo group's scenes when asked (oldest first).
    scene_id: Mapped[str] = mapped_column(ForeignKey("scenes.id", ondelete="RESTRICT"))
    stereo_group: Mapped[str] = mapped_column(String(100))
    source_ids: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    aoi = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    resolution_m: Mapped[Decimal] = mapped_column(Numeric(8, 3))
    # The co-funding quote of the part beyond the allowance (none within it).
    eur_per_km2: Mapped[Decimal | None] = mapped_column(EUR)
    excluding_tax: Mapped[Decimal | None] = mapped_column(EUR)
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    tax: Mapped[Decimal | None] = mapped_column(EUR)
    including_tax: Mapped[Decimal | None] = mapped_column(EUR)
    quote_valid_until: Mapped[dt.date | None]
    quote_decided_by_id: Mapped[UserRef | None]
    # The computation: its Procrastinate job, attempts, progress; why it failed; the log.
    job_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    progress: Mapped[Progress]
    progress_message: Mapped[str | None] = mapped_column(String(200))
    failure_code: Mapped[str | None] = mapped_column(String(20))
    failure_detail: Mapped[str | None] = mapped_column(Text)  # for staff, as the engine said
    log: Mapped[str | None] = mapped_column(Text)  # for staff: the end of the engine's log
    # The delivered STAC item of the `dsm` collection.
    item_id: Mapped[str | None] = mapped_column(ForeignKey("scenes.id", ondelete="SET NULL"))
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]

    events: Mapped[list[DsmEvent]] = relationship(
        back_populates="request", order_by="DsmEvent.id", cascade="all, delete-orphan"
    )

    @property
    def number(self) -> str:
        return f"D-{self.id:06d}"

    @property
    def status_words(self) -> str:
        return str(DSM_STATUS_WORDS[self.status])


class DsmEvent(StatusChange, Base):
    """One step of a request's life: who moved it, from where to where, and why."""

    __tablename__ = "dsm_events"
    __table_args__ = (Index("ix_dsm_events_untold", "id", postgresql_where="told_at IS NULL"),)

    request_id: Mapped[int] = part_of("dsm_requests")
    # A code the timeline puts in the reader's words (service.event_note), or staff's text.
    note: Mapped[str | None] = mapped_column(Text)
    # When the requester was told of the step (e-mail, webhooks: dsm.service.tell_steps);
    # null until then, after the step's commit.
    told_at: Mapped[dt.datetime | None]

    request: Mapped[DsmRequest] = relationship(back_populates="events")

    @property
    def status_words(self) -> str:
        """The state the step moved the request to, in the reader's words."""
        return str(DSM_STATUS_WORDS[self.to_status])
