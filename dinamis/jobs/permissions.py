"""Who may see and start the background jobs."""

from __future__ import annotations

from dinamis.accounts.models import Visitor
from dinamis.accounts.permissions import is_staff


def can_view_jobs(user: Visitor) -> bool:
    return is_staff(user)
