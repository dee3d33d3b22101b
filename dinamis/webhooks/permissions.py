"""Who may do what with webhooks: each account its own; staff see failures and switch off."""

from __future__ import annotations

from dinamis.accounts.models import Visitor
from dinamis.accounts.permissions import is_owner, is_signed_in, is_staff
from dinamis.webhooks.models import DisabledReason, Webhook


def can_manage_own_webhooks(user: Visitor) -> bool:
    """Any active account may have webhooks (its orders' events, its alerts)."""
    return is_signed_in(user)


def can_manage_webhook(user: Visitor, webhook: Webhook) -> bool:
    """Only its owner reads, changes, tests or deletes a webhook (staff do not read secrets)."""
    return is_owner(user, webhook.user_id)


def can_switch_on_webhook(user: Visitor, webhook: Webhook) -> bool:
    """Its owner switches it back on, unless staff switched it off (then staff only)."""
    if webhook.disabled_reason == DisabledReason.STAFF:
        return is_staff(user)
    return can_manage_webhook(user, webhook) or is_staff(user)


def can_oversee_webhooks(user: Visitor) -> bool:
    """Staff: every webhook's failures; switch a misbehaving one off."""
    return is_staff(user)
