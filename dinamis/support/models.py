"""Support requests: a thread between a requester (signed in or not) and staff."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import ForeignKey, LargeBinary, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dinamis.accounts.models import User
from dinamis.core.db import Base, one_of


class TicketStatus:
    OPEN = "open"
    ANSWERED = "answered"  # staff replied, waiting for the requester
    CLOSED = "closed"
    ALL = (OPEN, ANSWERED, CLOSED)


CATEGORIES = ("account", "membership", "catalogue", "orders", "quota", "reports", "other")


def new_access_key() -> str:
    return secrets.token_urlsafe(24)


class Ticket(Base):
    __tablename__ = "support_tickets"
    __table_args__ = (
        one_of("status", TicketStatus.ALL, name="status"),
        one_of("category", CATEGORIES, name="category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default=TicketStatus.OPEN, index=True)
    requester_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    requester_email: Mapped[str] = mapped_column(String(254))
    requester_name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    # Anonymous requesters follow their thread through a secret link.
    access_key: Mapped[str] = mapped_column(String(64), unique=True, default=new_access_key)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    requester: Mapped[User | None] = relationship(foreign_keys=[requester_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id", cascade="all, delete-orphan"
    )


class TicketMessage(Base):
    __tablename__ = "support_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    from_staff: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()
    attachment: Mapped[TicketAttachment | None] = relationship(
        back_populates="message", cascade="all, delete-orphan", uselist=False
    )


class TicketAttachment(Base):
    __tablename__ = "support_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("support_messages.id", ondelete="CASCADE"), unique=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)

    message: Mapped[TicketMessage] = relationship(back_populates="attachment")
