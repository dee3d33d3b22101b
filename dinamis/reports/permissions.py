"""Who may see and act on usage reports."""

from __future__ import annotations

from typing import Any

from dinamis.accounts.permissions import is_signed_in, is_staff


def can_write_reports(user: Any) -> bool:
    """Members of an entity (an expired entity's members still owe their reports)."""
    return is_signed_in(user) and user.entity_id is not None and not user.is_staff


def can_view_reports(user: Any) -> bool:
    return is_signed_in(user)


def can_view_report(user: Any, report: Any) -> bool:
    """The author, the Referent and deputies of its entity, and staff."""
    if not is_signed_in(user):
        return False
    if is_staff(user) or report.author_id == user.id:
        return True
    return user.entity_id == report.entity_id and bool(user.is_referent or user.is_deputy)


def can_edit_report(user: Any, report: Any) -> bool:
    return is_signed_in(user) and bool(report.author_id == user.id)


def can_review_reports(user: Any) -> bool:
    return is_staff(user)


def can_view_statistics(user: Any) -> bool:
    return is_staff(user)


def can_view_entity_usage(user: Any, entity_id: int) -> bool:
    """Staff, and the entity's Referent and deputies."""
    return is_signed_in(user) and (
        is_staff(user) or (user.entity_id == entity_id and (user.is_referent or user.is_deputy))
    )


def can_view_own_entity_usage(user: Any) -> bool:
    return (
        is_signed_in(user) and user.entity_id is not None and (user.is_referent or user.is_deputy)
    )
