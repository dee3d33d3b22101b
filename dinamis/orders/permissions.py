"""Who may do what with orders."""

from __future__ import annotations

from typing import TypeGuard

from dinamis.accounts.models import User, Visitor
from dinamis.accounts.permissions import (
    is_signed_in,
    is_staff,
    is_staff_owner_or_manager,
    manages_entity,
)
from dinamis.core import dates
from dinamis.orders.models import Order


def can_order(user: Visitor) -> TypeGuard[User]:
    """A signed-in member of an active entity (expired or suspended entities cannot order)."""
    return (
        is_signed_in(user)
        and user.entity is not None
        and user.entity.can_order_on(dates.today())
        and not user.is_staff
    )


def can_view_orders(user: Visitor) -> bool:
    return is_signed_in(user)


def can_view_order(user: Visitor, order: Order) -> bool:
    """The requester, the Referent and deputies of its entity, and staff."""
    return is_staff_owner_or_manager(user, order.requester_id, order.entity_id)


def can_cancel_order(user: Visitor, order: Order) -> bool:
    """The requester, the Referent and deputies of its entity (staff reject instead)."""
    return (is_signed_in(user) and order.requester_id == user.id) or manages_entity(
        user, order.entity_id
    )


def can_decide_quote(user: Visitor, order: Order) -> bool:
    """The entity's Referent (or a deputy) accepts or declines the co-funding quote."""
    return manages_entity(user, order.entity_id)


def can_review_orders(user: Visitor) -> bool:
    return is_staff(user)
