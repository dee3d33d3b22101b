"""Signed, expiring links for e-mail confirmation and the Legal Representative.

A link names the request and the state it was sent for: once the request has
moved on, the same link is refused as already used.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from dinamis.core.errors import ServiceError

DAY = 24 * 3600


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"dinamis.{purpose}")


def make(purpose: str, object_id: int, state: str) -> str:
    return _serializer(purpose).dumps({"id": object_id, "s": state})


def read(purpose: str, token: str, max_age: int = 7 * DAY) -> dict[str, Any]:
    """The token's payload, or a clear refusal (expired, or not a valid link)."""
    try:
        data = _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise ServiceError(_("This link has expired. Please start again.")) from None
    except BadSignature:
        raise ServiceError(_("This link is not valid.")) from None
    if not isinstance(data, dict) or "id" not in data:
        raise ServiceError(_("This link is not valid."))
    return data


def check_state(data: dict[str, Any], current: str) -> None:
    if data.get("s") != current:
        raise ServiceError(_("This link has already been used."))
