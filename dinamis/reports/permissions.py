"""Who may see and act on usage reports."""

from __future__ import annotations

from dinamis.accounts.models import Visitor
from dinamis.accounts.permissions import (
    is_signed_in,
    is_staff,
    is_staff_owner_or_manager,
    manages_entity,
)
from dinamis.reports.models import UsageReport


def can_write_reports(user: Visitor) -> bool:
    """Members of an entity (an expired entity's members still owe their reports)."""
    return is_signed_in(user) and user.entity_id is not None and not user.is_staff


def can_view_reports(user: Visitor) -> bool:
    return is_signed_in(user)


def can_view_report(user: Visitor, report: UsageReport) -> bool:
    """The author, the Referent and deputies of its entity, and staff."""
    return is_staff_owner_or_manager(user, report.author_id, report.entity_id)


def can_edit_report(user: Visitor, report: UsageReport) -> bool:
    return is_signed_in(user) and bool(report.author_id == user.id)


def can_review_reports(user: Visitor) -> bool:
    return is_staff(user)


def can_view_statistics(user: Visitor) -> bool:
    return is_staff(user)


def can_view_entity_usage(user: Visitor, entity_id: int) -> bool:
    """Staff, and the entity's Referent and deputies."""
    return is_staff(user) or manages_entity(user, entity_id)


def can_view_own_entity_usage(user: Visitor) -> bool:
    return is_signed_in(user) and manages_entity(user, user.entity_id)
