"""Who may see and start the background jobs."""

from __future__ import annotations

from typing import Any

from dinamis.accounts.permissions import is_staff


def can_view_jobs(user: Any) -> bool:
    return is_staff(user)
