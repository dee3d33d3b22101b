"""Who may save searches, change them, and see the alert activity."""

from __future__ import annotations

from dinamis.accounts.models import Visitor
from dinamis.accounts.permissions import is_owner, is_signed_in, is_staff
from dinamis.alerts.models import SavedSearch


def can_save_searches(user: Visitor) -> bool:
    """Any active account: what a message lists is cut to what its owner may see."""
    return is_signed_in(user)


def can_manage_search(user: Visitor, saved: SavedSearch) -> bool:
    """Its owner only (staff see the activity, not the members' searches one by one)."""
    return is_owner(user, saved.user_id)


def can_view_alert_activity(user: Visitor) -> bool:
    return is_staff(user)
