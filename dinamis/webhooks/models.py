"""Webhooks: a member's URL that receives signed JSON events, and its outbox.

A `Webhook` belongs to one account. Every event meant for it is first written
as a `WebhookDelivery` row in the transaction that causes it (idempotent by
`key`: the same key for the same webhook is one delivery), then posted by a
job once that transaction has committed, retried with back-off on failure.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.accounts.models import User
from dinamis.core.columns import BigIntPk, CreatedAt, IntPk, OwnedByUser, choice
from dinamis.core.db import Base

# Why a webhook is off: its owner, staff, or too many failed deliveries in a row.
DisabledReason = StrEnum("DisabledReason", "OWNER STAFF FAILURES")


class Webhook(Base):
    """A URL that receives an account's events (order changes, alerts), signed with `secret`."""

    __tablename__ = "webhooks"
    __table_args__ = (
        CheckConstraint(
            "active = (disabled_reason IS NULL)", name="active_unless_disabled_for_a_reason"
        ),
        CheckConstraint("consecutive_failures >= 0", name="failures_positive"),
    )

    id: Mapped[IntPk]
    user_id: Mapped[OwnedByUser]
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    # The HMAC key: the server must sign with it, so it is kept as is (like the
    # secrets of GitHub's or Stripe's webhooks); shown to its owner once.
    secret: Mapped[str] = mapped_column(String(100))
    secret_created_at: Mapped[CreatedAt]
    # The secret before the last rotation, still signing (beside the new one) until
    # `previous_secret_until`: the owner's server switches without losing an event.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[dt.datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    # The channel choice: does this webhook receive the owner's order state changes?
    order_events: Mapped[bool] = mapped_column(default=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    disabled_reason: Mapped[str | None] = choice(DisabledReason, 10)
    disabled_at: Mapped[dt.datetime | None]
    disabled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_success_at: Mapped[dt.datetime | None]
    last_failure_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]

    user: Mapped[User] = relationship(foreign_keys="Webhook.user_id")
    disabled_by: Mapped[User | None] = relationship(foreign_keys=[disabled_by_id])


# PENDING: waiting for its first attempt or a retry; DELIVERED: the receiver answered
# 2xx; FAILED: given up (attempts exhausted, or a 4xx that retrying cannot mend);
# CANCELLED: the webhook was switched off before it could be sent.
DeliveryStatus = StrEnum("DeliveryStatus", "PENDING DELIVERED FAILED CANCELLED")


class WebhookDelivery(Base):
    """One event for one webhook: the outbox row, its attempts and the last answer."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "key", name="uq_webhook_deliveries_key"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where="status = 'pending'",
        ),
        Index("ix_webhook_deliveries_failed", "id", postgresql_where="status = 'failed'"),
    )

    id: Mapped[BigIntPk]
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    # Idempotency: an event already written for this webhook under this key is not written again.
    key: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(60))
    # The JSON body sent (`id`, `type`, `created`, `data`), the same at every attempt.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = choice(DeliveryStatus, 10, default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    response_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    delivered_at: Mapped[dt.datetime | None]

    webhook: Mapped[Webhook] = relationship()
