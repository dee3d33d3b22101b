"""Who may see and act on support requests."""

from __future__ import annotations

from dinamis.accounts.models import Visitor
from dinamis.accounts.permissions import is_signed_in, is_staff
from dinamis.support.models import Ticket


def can_open_ticket(user: Visitor) -> bool:
    """Everyone, signed in or not."""
    return True


def can_view_ticket(user: Visitor, ticket: Ticket) -> bool:
    """Staff, and the signed-in requester (anonymous requesters use their secret link)."""
    return is_signed_in(user) and (is_staff(user) or ticket.requester_id == user.id)


def can_manage_tickets(user: Visitor) -> bool:
    return is_staff(user)
