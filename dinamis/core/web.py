"""Small helpers shared by the web views."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, flash, redirect, request, url_for

from dinamis.core.errors import ServiceError


def safe_next(target: str | None, default: str = "core.home") -> str:
    """A local path to go back to, never another site (open redirects)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and "\\" not in target:
            return target
    return url_for(default)


def redirect_next(default: str = "core.home") -> Response:
    return redirect(safe_next(request.values.get("next"), default))  # type: ignore[return-value]


def apply_service_error(form: Any, error: ServiceError) -> None:
    """Show a refused action on its form: field messages next to the fields."""
    flash(error.message, "error")
    for name, message in error.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message]


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute link for e-mails, on the configured base URL, in or out of a request."""
    base = current_app.config["DINAMIS_SETTINGS"].base_url
    with current_app.test_request_context(base_url=base):
        return url_for(endpoint, _external=True, **values)
