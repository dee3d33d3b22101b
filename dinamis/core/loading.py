"""What a request names, loaded or refused: an object by its key (404 when there is
none) and a list filter among its allowed values (400 otherwise).

Views load first, then check access on what they loaded ("load, check, act").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import abort, request
from flask_babel import gettext as _

from dinamis.core.errors import refuse
from dinamis.core.permissions import ensure
from dinamis.extensions import db

if TYPE_CHECKING:
    from dinamis.accounts.models import Visitor

T = TypeVar("T")


def get_or_404(model: type[T], key: Any) -> T:
    """The `model` row whose primary key is `key`, or a 404."""
    found = db.session.get(model, key)
    if found is None:
        abort(404)
    return found


def get_allowed(model: type[T], key: Any, user: Visitor, check: Callable[[Visitor, T], bool]) -> T:
    """The `model` row whose primary key is `key` (a 404 when there is none), if
    `check(user, row)` allows it (a 403 otherwise)."""
    found = get_or_404(model, key)
    ensure(check(user, found))
    return found


def status_filter(allowed: Iterable[str]) -> str | None:
    """The page's `?status=` filter: None when not given, 400 when not one of `allowed`."""
    status = request.args.get("status") or None
    if status and status not in allowed:
        refuse(400, _("Unknown filter value."))
    return status
