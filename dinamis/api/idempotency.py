"""Idempotency-Key on the API's create requests: a repeated request is answered, not redone.

The key row is inserted in the request's own transaction before the work is
done. A second request with the same key waits on the unique index until
the first one ends: if the first committed, the second finds its stored
answer and replays it; if it was refused (rolled back), the key is free again.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from flask import Response, jsonify, request
from flask_babel import gettext as _
from pydantic import BaseModel

from dinamis.accounts.models import User
from dinamis.core.errors import MalformedInput, ServiceError
from dinamis.core.idempotency import IdempotencyKey, hold
from dinamis.extensions import db

HEADER = "Idempotency-Key"
# 1 to 200 printable ASCII characters, not starting or ending with a space.
KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,198}[\x21-\x7e])?")
PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": f"^{KEY.pattern}$"},
    "description": "Repeating a request with the same key replays its answer.",
}


def _fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path} {canonical}".encode()).hexdigest()


def claim(user: User, body: BaseModel) -> IdempotencyKey | Response | None:
    """None without the header; the stored answer for a repeat; else this request's key row.
    The validated body is fingerprinted only when a key is given."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not KEY.fullmatch(key):
        raise MalformedInput(_("The Idempotency-Key header must be 1 to 200 printable characters."))
    fingerprint = _fingerprint(body.model_dump(mode="json"))
    earlier = hold(user.id, key, fingerprint)
    if earlier.response is None:  # this request's own row: do the work
        return earlier
    if earlier.fingerprint != fingerprint:
        raise ServiceError(
            _("This Idempotency-Key was already used for a different request."),
            fields={"Idempotency-Key": _("Use a new key for a new request.")},
        )
    response = jsonify(earlier.response)
    response.status_code = earlier.status_code or 200
    response.headers["Idempotent-Replayed"] = "true"
    return response


def answer(claimed: IdempotencyKey | None, body: dict[str, Any], status: int) -> Response:
    """The response; stored with a claimed key (same transaction) so that a repeat replays it."""
    if claimed is not None:
        claimed.status_code, claimed.response = status, body
        db.session.flush()
    response = jsonify(body)
    response.status_code = status
    return response
