"""Small helpers shared by the web views."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, flash, redirect, request, url_for

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
