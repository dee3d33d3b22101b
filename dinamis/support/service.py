"""Support requests: open, answer, assign, close; the requester is mailed at each answer."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from dinamis.accounts.models import User, Visitor
from dinamis.core.errors import Conflict, Forbidden, ServiceError
from dinamis.core.mail import queue_mail
from dinamis.core.validation import normalise_email_address
from dinamis.core.web import external_url
from dinamis.extensions import db
from dinamis.support.models import (
    CATEGORIES,
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketStatus,
)
from dinamis.support.permissions import can_manage_tickets, can_view_ticket

MAX_ATTACHMENT = 5 * 1024 * 1024
ALLOWED_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".geojson": "application/geo+json",
    ".json": "application/json",
}
# The first bytes of the binary types, so a renamed executable is refused.
MAGIC = {".pdf": b"%PDF", ".png": b"\x89PNG", ".jpg": b"\xff\xd8", ".jpeg": b"\xff\xd8"}


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes


def _attachment(upload: Upload | None) -> TicketAttachment | None:
    if upload is None or not upload.filename:
        return None
    name = upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:200]
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in ALLOWED_TYPES:
        raise ServiceError(
            _("Attach a PDF, PNG, JPEG, text, CSV or GeoJSON file."),
            fields={"attachment": _("File type not accepted.")},
        )
    if len(upload.content) > MAX_ATTACHMENT:
        raise ServiceError(
            _("The attachment is larger than %(mb)d MB.", mb=MAX_ATTACHMENT // (1024 * 1024)),
            fields={"attachment": _("Too large.")},
        )
    if suffix in MAGIC and not upload.content.startswith(MAGIC[suffix]):
        raise ServiceError(
            _("The file's content does not match its name."),
            fields={"attachment": _("File type not accepted.")},
        )
    return TicketAttachment(
        filename=name,
        media_type=ALLOWED_TYPES[suffix],
        size=len(upload.content),
        content=upload.content,
    )


def _mail_requester(ticket: Ticket, template: str) -> None:
    """Mail whoever opened the request, in their language, with the link to it: its page
    for a member, its secret-key page for an anonymous visitor."""
    if ticket.requester_id is not None:
        link = external_url("support.show", ticket_id=ticket.id)
    else:
        link = external_url("support.by_key", key=ticket.access_key)
    queue_mail(ticket.requester_email, template, language=ticket.language, ticket=ticket, link=link)


@dataclass(frozen=True)
class Draft:
    """What a person writes to open a request; `email` and `name` only when not signed in."""

    subject: str
    category: str
    body: str
    email: str | None = None
    name: str | None = None


def check_ticket(actor: Visitor, draft: Draft) -> dict[str, str]:
    """Every field's problem at once (field name -> what to fix); empty when all are right."""
    signed_in = isinstance(actor, User)  # as `open_ticket` names the member
    errors = {}
    if not draft.subject.strip():
        errors["subject"] = _("Required.")
    if not draft.body.strip():
        errors["body"] = _("Required.")
    if draft.category not in CATEGORIES:
        errors["category"] = _("Unknown category.")
    if not signed_in:
        try:
            normalise_email_address(draft.email or "")
        except ValueError:
            errors["email"] = _("A valid e-mail address is needed to answer you.")
        if not (draft.name or "").strip():
            errors["name"] = _("Required.")
    return errors


def open_ticket(
    actor: Visitor,
    draft: Draft,
    *,
    language: str = "fr",
    upload: Upload | None = None,
) -> Ticket:
    """Open a request; anonymous visitors give an e-mail address to be answered at."""
    errors = check_ticket(actor, draft)
    if errors:
        raise ServiceError(_("Some fields need your attention."), fields=errors)
    member = actor if isinstance(actor, User) else None
    ticket = Ticket(
        subject=draft.subject.strip()[:200],
        category=draft.category,
        requester_id=member.id if member else None,
        requester_email=member.email if member else normalise_email_address(draft.email or ""),
        requester_name=member.full_name if member else (draft.name or "").strip()[:200],
        language=member.language if member else language,
    )
    ticket.messages.append(
        TicketMessage(
            author_id=member.id if member else None,
            body=draft.body.strip(),
            attachment=_attachment(upload),
        )
    )
    db.session.add(ticket)
    db.session.flush()
    _mail_requester(ticket, "support_received")
    return ticket


def reply(
    actor: Visitor,
    ticket: Ticket,
    body: str,
    upload: Upload | None = None,
    key: str = "",
) -> None:
    """Add a message: from staff (the requester is mailed) or from the requester."""
    staff = can_manage_tickets(actor)
    if not (staff or can_view_ticket(actor, ticket) or (key and key == ticket.access_key)):
        raise Forbidden(_("This request is not yours."))
    if ticket.status == TicketStatus.CLOSED:
        raise Conflict(_("This request is closed; open a new one."))
    if not body.strip():
        raise ServiceError(_("Write a message."), fields={"body": _("Required.")})
    ticket.messages.append(
        TicketMessage(
            author_id=actor.id if isinstance(actor, User) else None,
            from_staff=staff,
            body=body.strip(),
            attachment=_attachment(upload),
        )
    )
    ticket.status = TicketStatus.ANSWERED if staff else TicketStatus.OPEN
    db.session.flush()
    if staff:
        _mail_requester(ticket, "support_answered")


def assign(actor: User, ticket: Ticket, assignee_id: int | None) -> None:
    """Staff give the request to one of them (or to nobody)."""
    if not can_manage_tickets(actor):
        raise Forbidden(_("Only staff assign requests."))
    if assignee_id is not None:
        assignee = db.session.get(User, assignee_id)
        if assignee is None or not assignee.is_staff:
            raise ServiceError(_("Requests are assigned to staff members only."))
    ticket.assignee_id = assignee_id
    db.session.flush()


def close(actor: Visitor, ticket: Ticket, key: str = "") -> None:
    """Staff or the requester close the request."""
    if not (
        can_manage_tickets(actor) or can_view_ticket(actor, ticket) or key == ticket.access_key
    ):
        raise Forbidden(_("This request is not yours."))
    ticket.status = TicketStatus.CLOSED
    db.session.flush()


def visible_tickets(actor: User, status: str | None = None) -> list[Ticket]:
    """The staff queue (all) or the user's own requests."""
    query = select(Ticket).order_by(Ticket.updated_at.desc())
    if not can_manage_tickets(actor):
        query = query.where(Ticket.requester_id == actor.id)
    if status:
        query = query.where(Ticket.status == status)
    return list(db.session.scalars(query.limit(500)))


def staff_members() -> list[User]:
    from dinamis.accounts.service import active_staff

    return active_staff()
