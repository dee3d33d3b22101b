"""Tasking requests and archive orders, their timeline and their quotes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from geoalchemy2 import Geometry
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from dinamis.accounts.models import User
from dinamis.core.columns import (
    CreatedAt,
    EntityRef,
    IntPk,
    UpdatedAt,
    UserRef,
    choice,
    part_of,
    within,
)
from dinamis.core.db import Base
from dinamis.core.idempotency import IdempotencyKey  # noqa: F401  (moved to core; kept importable)
from dinamis.membership.models import Entity
from dinamis.quota.models import EUR, KM2

OrderKind = StrEnum("OrderKind", "TASKING ARCHIVE")
Sensor = StrEnum("Sensor", {"PLEIADES": "pleiades", "NEO": "pleiades-neo", "SPOT": "spot"})
Mode = StrEnum("Mode", "MONO STEREO TRISTEREO")
# How many images a mode takes of the same ground.
MODE_FACTOR: dict[str, int] = {Mode.MONO: 1, Mode.STEREO: 2, Mode.TRISTEREO: 3}
SpectralMode = StrEnum("SpectralMode", "PAN MS PMS BUNDLE")
# What an order's project is about (the web form and the API offer the same).
Theme = StrEnum("Theme", "AGRICULTURE FOREST COAST URBAN RISKS WATER BIODIVERSITY GEOLOGY OTHER")
# AWAITING_QUOTE: the co-funded part waits for the Referent to accept the quote;
# ACCEPTED: in acquisition or production.
Status = StrEnum(
    "Status",
    "DRAFT AWAITING_QUOTE UNDER_REVIEW ACCEPTED PARTIALLY_DELIVERED DELIVERED"
    " CLOSED REJECTED CANCELLED EXPIRED",
)


class ProductRequest:
    """What every member's request for a product has (tasking and archive orders,
    surface models): the entity it is for and who asked, the km² of its AOI and how
    the quota charges them, the project it serves, and when it was made and changed."""

    # The ledger's postings for the request are labelled "<reference_prefix>:<id>".
    reference_prefix: ClassVar[str]

    id: Mapped[IntPk]
    entity_id: Mapped[EntityRef]
    requester_id: Mapped[UserRef] = mapped_column(index=True)
    aoi_km2: Mapped[Decimal] = mapped_column(KM2)
    # Charged to the allowance of `family` in `period`: free, then co-funded beyond it.
    charged_km2: Mapped[Decimal] = mapped_column(KM2)
    family: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(10))
    free_km2: Mapped[Decimal] = mapped_column(KM2, default=Decimal("0"))
    cofunded_km2: Mapped[Decimal] = mapped_column(KM2, default=Decimal("0"))
    project_title: Mapped[str] = mapped_column(String(200))
    project_description: Mapped[str] = mapped_column(Text)
    theme: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    @declared_attr
    def entity(cls) -> Mapped[Entity]:
        return relationship()

    @declared_attr
    def requester(cls: type[Any]) -> Mapped[User]:  # `cls`: the mapped class
        # (a surface model's request names another account: who decided its quote)
        return relationship(foreign_keys=f"{cls.__name__}.requester_id")

    @property
    def reference(self) -> str:
        """The ledger reference of this request."""
        return f"{self.reference_prefix}:{self.id}"


class StatusChange:
    """One step of a request's timeline: from which state to which, by whom, when."""

    id: Mapped[IntPk]
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[UserRef | None]
    created_at: Mapped[CreatedAt]

    @declared_attr
    def actor(cls) -> Mapped[User | None]:
        return relationship()


class Order(ProductRequest, Base):
    """A request for new imagery: a tasking request (new acquisition) or an archive order."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("window_end IS NULL OR window_end > window_start", name="window_order"),
        CheckConstraint("charged_km2 >= 0 AND free_km2 >= 0 AND cofunded_km2 >= 0", name="areas"),
    )

    reference_prefix = "order"

    kind: Mapped[str] = choice(OrderKind, 10)
    status: Mapped[str] = choice(Status, 20, default=Status.DRAFT, index=True)
    sensor: Mapped[str] = choice(Sensor, 20)
    aoi = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    mode: Mapped[str] = choice(Mode, 10, default=Mode.MONO)
    window_start: Mapped[dt.date | None]
    window_end: Mapped[dt.date | None]
    max_cloud_cover: Mapped[int] = within(0, 100, default=20, check="cloud_range")
    max_incidence: Mapped[int] = within(0, 60, default=30, check="incidence_range")
    spectral_mode: Mapped[str] = mapped_column(String(10), default="pms")
    justification: Mapped[str] = mapped_column(Text)
    funding: Mapped[str | None] = mapped_column(String(300))
    staff_comment: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime | None]

    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan"
    )
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="order", order_by="Delivery.id", cascade="all, delete-orphan"
    )
    quotes: Mapped[list[Quote]] = relationship(
        back_populates="order", order_by="Quote.id", cascade="all, delete-orphan"
    )
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.id", cascade="all, delete-orphan"
    )

    @property
    def number(self) -> str:
        prefix = "T" if self.kind == OrderKind.TASKING else "A"
        return f"{prefix}-{self.id:06d}"

    @property
    def delivered_km2(self) -> Decimal:
        return sum((d.km2 for d in self.deliveries), Decimal("0.00"))


class OrderItem(Base):
    """One catalogue scene of an archive order, cut to an AOI or whole; its charged km²."""

    __tablename__ = "order_items"
    __table_args__ = (
        UniqueConstraint("order_id", "scene_id", name="uq_order_items_scene"),
        CheckConstraint("km2 > 0", name="km2_positive"),
    )

    id: Mapped[IntPk]
    order_id: Mapped[int] = part_of("orders")
    scene_id: Mapped[str] = mapped_column(ForeignKey("scenes.id", ondelete="RESTRICT"), index=True)
    cut = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True)
    km2: Mapped[Decimal] = mapped_column(KM2)

    order: Mapped[Order] = relationship(back_populates="items")


class OrderEvent(StatusChange, Base):
    """One step of an order's life: who moved it, from where to where, and why."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_untold", "id", postgresql_where="told_at IS NULL"),)

    order_id: Mapped[int] = part_of("orders")
    comment: Mapped[str | None] = mapped_column(Text)
    # When the requester was told of the step (e-mail, webhooks: orders.service.tell_steps);
    # null until the worker has told it, after the step's commit.
    told_at: Mapped[dt.datetime | None]

    order: Mapped[Order] = relationship(back_populates="events")


class Delivery(Base):
    """A catalogue scene delivered for an order, and the km² it consumes.

    `computed_km2` is measured (service.measure_delivery): the geodesic area of the
    part of the order's AOI (or of the archive item's cut) that the scene newly
    covers, times the scenes of its stereo group. `km2`, what the ledger
    consumes, is that figure unless staff corrected it, which needs a reason.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint("km2 > 0", name="km2_positive"),
        CheckConstraint(
            "km2 = computed_km2 OR correction_reason IS NOT NULL", name="correction_has_reason"
        ),
        UniqueConstraint("order_id", "scene_id", name="uq_deliveries_scene"),
    )

    id: Mapped[IntPk]
    order_id: Mapped[int] = part_of("orders")
    scene_ref: Mapped[str] = mapped_column(String(200))
    # The catalogue scene delivered, when the reference names one.
    scene_id: Mapped[str | None] = mapped_column(
        ForeignKey("scenes.id", ondelete="SET NULL"), index=True
    )
    km2: Mapped[Decimal] = mapped_column(KM2)
    computed_km2: Mapped[Decimal] = mapped_column(KM2)
    correction_reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[UserRef | None]
    created_at: Mapped[CreatedAt]

    order: Mapped[Order] = relationship(back_populates="deliveries")

    @property
    def corrected(self) -> bool:
        return self.km2 != self.computed_km2


QuoteStatus = StrEnum("QuoteStatus", "PENDING ACCEPTED DECLINED EXPIRED")


class Quote(Base):
    """The price of an order's co-funded part, for the entity's Referent to accept."""

    __tablename__ = "quotes"

    id: Mapped[IntPk]
    order_id: Mapped[int] = part_of("orders")
    status: Mapped[str] = choice(QuoteStatus, 10, default=QuoteStatus.PENDING)
    free_km2: Mapped[Decimal] = mapped_column(KM2)
    cofunded_km2: Mapped[Decimal] = mapped_column(KM2)
    eur_per_km2: Mapped[Decimal] = mapped_column(EUR)
    excluding_tax: Mapped[Decimal] = mapped_column(EUR)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    tax: Mapped[Decimal] = mapped_column(EUR)
    including_tax: Mapped[Decimal] = mapped_column(EUR)
    valid_until: Mapped[dt.date]
    decided_by_id: Mapped[UserRef | None]
    decided_at: Mapped[dt.datetime | None]
    created_at: Mapped[CreatedAt]

    order: Mapped[Order] = relationship(back_populates="quotes")

    @property
    def number(self) -> str:
        return f"Q-{self.created_at:%Y}-{self.id:05d}" if self.created_at else f"Q-{self.id:05d}"
