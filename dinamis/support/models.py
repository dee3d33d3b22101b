"""Support requests: a thread between a requester (signed in or not) and staff."""

from __future__ import annotations

import secrets
from enum import StrEnum

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.accounts.models import User
from dinamis.core.columns import CreatedAt, IntPk, UpdatedAt, UserRef, choice, part_of
from dinamis.core.db import Base

# ANSWERED: staff replied, waiting for the requester.
TicketStatus = StrEnum("TicketStatus", "OPEN ANSWERED CLOSED")


CATEGORIES = ("account", "membership", "catalogue", "orders", "quota", "reports", "other")


def new_access_key() -> str:
    return secrets.token_urlsafe(24)


class Ticket(Base):
    __tablename__ = "support_tickets"

    id: Mapped[IntPk]
    subject: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = choice(CATEGORIES, 20)
    status: Mapped[str] = choice(TicketStatus, 10, default=TicketStatus.OPEN, index=True)
    requester_id: Mapped[UserRef | None] = mapped_column(index=True)
    requester_email: Mapped[str] = mapped_column(String(254))
    requester_name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    # Anonymous requesters follow their thread through a secret link.
    access_key: Mapped[str] = mapped_column(String(64), unique=True, default=new_access_key)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    requester: Mapped[User | None] = relationship(foreign_keys=[requester_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id", cascade="all, delete-orphan"
    )


class TicketMessage(Base):
    __tablename__ = "support_messages"

    id: Mapped[IntPk]
    ticket_id: Mapped[int] = part_of("support_tickets")
    author_id: Mapped[UserRef | None]
    from_staff: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[CreatedAt]

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()
    attachment: Mapped[TicketAttachment | None] = relationship(
        back_populates="message", cascade="all, delete-orphan", uselist=False
    )


class TicketAttachment(Base):
    __tablename__ = "support_attachments"

    id: Mapped[IntPk]
    message_id: Mapped[int] = mapped_column(
        ForeignKey("support_messages.id", ondelete="CASCADE"), unique=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)

    message: Mapped[TicketMessage] = relationship(back_populates="attachment")
