"""Language of the interface: French by default, English on request.

The choice, in order: the language picked with the switch (kept in the
session), the signed-in user's language, the browser's preference, French.
"""

from __future__ import annotations

from flask import Flask, has_request_context, request, session
from flask_login import current_user

from dinamis import config
from dinamis.config import LANGUAGES
from dinamis.extensions import babel


def _stac_machine_request() -> bool:
    """A request to the STAC API (its page for people aside)."""
    path = request.path
    return (path == "/stac" or path.startswith("/stac/")) and path != "/stac/api.html"


def select_locale() -> str:
    if not has_request_context():  # CLI commands, jobs, tests of services
        language: str = config.current().default_language
        return language
    if _stac_machine_request():  # STAC clients: English unless they ask for French
        return request.accept_languages.best_match(("en", "fr")) or "en"
    chosen = session.get("lang")
    if isinstance(chosen, str) and chosen in LANGUAGES:
        return chosen
    # Imported here: the accounts' models import this module (`current_language`).
    from dinamis.accounts.permissions import is_signed_in

    user = current_user
    if is_signed_in(user) and user.language in LANGUAGES:
        return user.language
    preferred = request.accept_languages.best_match(LANGUAGES)
    return preferred or config.current().default_language


def init_app(app: Flask) -> None:
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories="translations",
        default_domain="messages",
    )


def current_language() -> str:
    """The language the reader is served in ("fr" or "en")."""
    from flask_babel import get_locale

    locale = get_locale()
    return locale.language if locale is not None else "fr"
