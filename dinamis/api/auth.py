"""Bearer-token authentication for /api/v1.

The API never reads the session cookie: a browser's cookie cannot be used to
call it from another site, so the API needs no CSRF token.
"""

from __future__ import annotations

from flask import abort, g, request
from flask_login import AnonymousUserMixin

from dinamis.accounts.models import User, Visitor
from dinamis.accounts.service import user_for_api_token


def api_user() -> Visitor:
    """The user behind the request's `Authorization: Bearer` token, or anonymous."""
    if "api_user" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = None
        if scheme.lower() == "bearer" and token.strip():
            user = user_for_api_token(token.strip())
        g.api_user = user if user is not None else AnonymousUserMixin()
    found: Visitor = g.api_user
    return found


def api_account() -> User:
    """The signed-in user calling an API operation: operations are declared behind
    `requires(check, api=True)`, which answers 401 to anyone else before they run."""
    user = api_user()
    if not isinstance(user, User):
        abort(401)
    return user
