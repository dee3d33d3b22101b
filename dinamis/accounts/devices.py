"""Browsers known to a user, so that the per-e-mail sign-in limit cannot lock them out.

The per-e-mail limit on sign-in slows down guessing one account's password from
many addresses; on its own it would also let anyone lock that account's owner out
by failing on purpose. A browser that has signed in to an account (or used its
password-reset link) holds a signed "device" cookie naming that account; its
attempts count against a limit of its own instead of the account's shared one
(the OWASP "device cookie" design).
"""

from __future__ import annotations

import hashlib
import secrets

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

COOKIE = "dinamis_device"
SALT = "dinamis.device"
MAX_AGE = 365 * 24 * 3600


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _account(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def remember(response: Response, email: str) -> None:
    """Mark this browser as one the owner of `email` uses."""
    value = _serializer().dumps({"a": _account(email), "n": secrets.token_urlsafe(12)})
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )


def known_device(email: str) -> str | None:
    """This browser's device id if it is known to the owner of `email`, else None."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer().loads(raw)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("a") != _account(email):
        return None
    nonce = data.get("n")
    return nonce if isinstance(nonce, str) else None
