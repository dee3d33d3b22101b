"""Who may see and change quotas."""

from __future__ import annotations

from dinamis.accounts.models import Visitor
from dinamis.accounts.permissions import is_signed_in, is_staff


def can_adjust_quota(user: Visitor) -> bool:
    return is_staff(user)


def can_view_entity_quota(user: Visitor, entity_id: int) -> bool:
    """Staff, and the members of the entity."""
    return is_signed_in(user) and (is_staff(user) or user.entity_id == entity_id)


def can_view_own_quota(user: Visitor) -> bool:
    """Members of an entity (staff belong to none)."""
    return is_signed_in(user) and user.entity_id is not None
