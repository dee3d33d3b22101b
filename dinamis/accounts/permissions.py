"""Who may do what with accounts."""

from __future__ import annotations

from typing import TypeGuard

from dinamis.accounts.models import ApiToken, User, Visitor


def is_signed_in(user: Visitor | None) -> TypeGuard[User]:
    """Any active, signed-in account."""
    return isinstance(user, User) and user.is_active


def is_owner(user: Visitor, owner_id: int) -> bool:
    """The signed-in account `owner_id` itself (its token, its saved search, its webhook)."""
    return is_signed_in(user) and user.id == owner_id


def is_staff(user: Visitor) -> bool:
    return is_signed_in(user) and bool(user.is_staff)


def manages_entity(user: Visitor, entity_id: int | None) -> bool:
    """The Referent or a deputy of the entity `entity_id`."""
    return (
        is_signed_in(user)
        and entity_id is not None
        and user.entity_id == entity_id
        and bool(user.is_referent or user.is_deputy)
    )


def is_staff_owner_or_manager(user: Visitor, owner_id: int, entity_id: int | None) -> bool:
    """Staff, the account `owner_id` (who asked, who wrote), and the Referent and
    deputies of its entity `entity_id`."""
    return is_staff(user) or is_owner(user, owner_id) or manages_entity(user, entity_id)


# What an account may do: see its page, change its password, hold API tokens and use the
# API, revoke a token of its own.


def can_view_own_profile(user: Visitor) -> bool:
    return is_signed_in(user)


def can_change_own_password(user: Visitor) -> bool:
    return is_signed_in(user)


def can_manage_own_tokens(user: Visitor) -> bool:
    return is_signed_in(user)


def can_use_api(user: Visitor) -> bool:
    return is_signed_in(user)


def can_manage_token(user: Visitor, token: ApiToken) -> bool:
    return is_owner(user, token.user_id)
