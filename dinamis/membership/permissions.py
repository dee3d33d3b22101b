"""Who may act on memberships, entities and their members."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import QueryableAttribute

from dinamis.accounts.permissions import is_signed_in, is_staff, manages_entity

if TYPE_CHECKING:
    from dinamis.accounts.models import User, Visitor


def can_review_memberships(user: Visitor) -> bool:
    return is_staff(user)


def can_view_audit(user: Visitor) -> bool:
    return is_staff(user)


def is_entity_manager(user: Visitor) -> bool:
    """A Referent or deputy (of some entity)."""
    return (
        is_signed_in(user) and user.entity_id is not None and (user.is_referent or user.is_deputy)
    )


def can_manage_members(user: Visitor, entity_id: int) -> bool:
    """The entity's Referent and deputies (active accounts only)."""
    return manages_entity(user, entity_id)


def can_name_deputies(user: Visitor, entity_id: int) -> bool:
    return is_signed_in(user) and user.entity_id == entity_id and user.is_referent


def can_view_entity(user: Visitor, entity_id: int) -> bool:
    """Staff, and the entity's Referent and deputies."""
    return is_staff(user) or can_manage_members(user, entity_id)


def visible_to(
    actor: User, entity_id: QueryableAttribute[Any], owner_id: QueryableAttribute[Any]
) -> ColumnElement[bool]:
    """The SQL condition for a list of an entity's records (orders, reports, requests):
    all for staff, the entity's for its Referent and deputies, one's own for a member."""
    if actor.is_staff:
        return true()
    if actor.is_referent or actor.is_deputy:
        return entity_id == actor.entity_id
    return owner_id == actor.id
