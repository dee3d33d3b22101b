"""Named access checks, deny by default.

Every view declares who may reach it, either with `@requires(check)` where
`check` is a named function of the acting user (and, for object checks, the
object loaded by the view), or with `@public` for pages open to everyone.
`init_app` refuses to start an application with an undeclared view, and the
request hook answers 403 for any endpoint that somehow has no declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, request
from flask_login import current_user

from dinamis.accounts.models import User, Visitor
from dinamis.accounts.permissions import is_signed_in
from dinamis.extensions import login_manager

F = TypeVar("F", bound=Callable[..., Any])
Check = Callable[[Visitor], bool]

ACCESS_ATTR = "_dinamis_access"
PUBLIC = "public"


def public(view: F) -> F:
    """Declare a view open to everyone, signed in or not."""
    setattr(view, ACCESS_ATTR, PUBLIC)
    return view


def requires(check: Check, *, api: bool = False) -> Callable[[F], F]:
    """Declare a view reachable only when `check(current_user)` is true.

    An anonymous visitor of a web page is sent to the login page; a signed-in
    user who fails the check gets 403. With ``api=True`` the caller is the
    bearer of an API token and failures are JSON errors (401 or 403).
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user: Visitor
            if api:
                from dinamis.api.auth import api_user

                user = api_user()
            else:
                user = current_user
            if not user.is_authenticated:
                if api:
                    abort(401)
                return login_manager.unauthorized()
            if not check(user):
                abort(403)
            return view(*args, **kwargs)

        setattr(wrapped, ACCESS_ATTR, check.__name__)
        return wrapped  # type: ignore[return-value]

    return decorator


def current_account() -> User:
    """The signed-in user of a web view declared behind `requires(check)`, which sends
    anyone else to the login page before the view runs (an API operation reads its
    caller through `api.auth.api_account()`)."""
    user = current_user._get_current_object()
    if not is_signed_in(user):
        abort(401)
    return user


def ensure(allowed: bool) -> None:
    """Refuse the request (403) when an object-level check fails."""
    if not allowed:
        abort(403)


def access_of(view: Callable[..., Any]) -> str | None:
    return getattr(view, ACCESS_ATTR, None)


def undeclared_endpoints(app: Flask) -> list[str]:
    ignored = {"static"}
    return sorted(
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint not in ignored and access_of(view) is None
    )


def init_app(app: Flask) -> None:
    @app.before_request
    def _deny_undeclared() -> None:
        if request.endpoint is None or request.endpoint == "static":
            return
        view = app.view_functions.get(request.endpoint)
        if view is None or access_of(view) is None:
            abort(403)


def check_declared(app: Flask) -> None:
    """Refuse to start when a view has no access declaration."""
    missing = undeclared_endpoints(app)
    if missing:
        raise RuntimeError(
            "These views declare no access rule (use @public or @requires): " + ", ".join(missing)
        )
