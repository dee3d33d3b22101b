"""Who may do what with accounts."""

from __future__ import annotations

from typing import Any

from dinamis.accounts.models import ApiToken


def is_signed_in(user: Any) -> bool:
    """Any active, signed-in account."""
    return bool(getattr(user, "is_authenticated", False)) and bool(user.is_active)


def can_view_own_profile(user: Any) -> bool:
    return is_signed_in(user)


def can_change_own_password(user: Any) -> bool:
    return is_signed_in(user)


def can_manage_own_tokens(user: Any) -> bool:
    return is_signed_in(user)


def can_manage_token(user: Any, token: ApiToken) -> bool:
    return is_signed_in(user) and token.user_id == user.id


def can_use_api(user: Any) -> bool:
    return is_signed_in(user)


def is_staff(user: Any) -> bool:
    return is_signed_in(user) and bool(user.is_staff)
