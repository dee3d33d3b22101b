"""Dinamis: institutional access to very-high-resolution satellite imagery."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import Flask, Response
from flask_wtf.csrf import CSRFError

from dinamis.config import Settings, finalise, from_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# What is compressed for clients that accept it (see create_app).
COMPRESSED_TYPES = [
    "application/json",
    "application/geo+json",
    "application/schema+json",
    "application/vnd.oai.openapi+json",
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "text/csv",
    "text/plain",
    "image/svg+xml",
]


def create_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    """Build the application.

    `config` is a `Settings` object, or a mapping of `Settings` field
    overrides applied to the environment's settings; None reads the
    environment only.
    """
    from dinamis.core import boundary, errors, formats, i18n, permissions, transaction
    from dinamis.core import logging as dlogging
    from dinamis.extensions import compress, csrf, db, limiter, login_manager

    if isinstance(config, Settings):
        settings = finalise(config)
    else:
        settings = finalise(from_env(), **(config or {}))

    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder="static",
    )
    app.config.update(
        DINAMIS_SETTINGS=settings,
        DATABASE_URL=settings.database_url,
        SECRET_KEY=settings.secret_key,
        TESTING=settings.env == "test",
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SESSION_COOKIE_NAME="dinamis_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.session_lifetime_hours),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        RATELIMIT_ENABLED=settings.ratelimit_enabled,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_KEY_PREFIX=settings.ratelimit_key_prefix,
        # Redis unreachable: count per process for a while rather than answer 500.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        BABEL_DEFAULT_LOCALE=settings.default_language,
        JSON_SORT_KEYS=False,
        # Answers compressed when the client accepts it (Flask-Compress): JSON (the STAC
        # and JSON APIs) and pages, never a streamed answer (files, Range requests).
        # zstd, then brotli, then gzip, at levels that cost ~0.1-0.6 ms for a page of 20
        # search results (bench/README.md, "Compression").
        COMPRESS_MIMETYPES=COMPRESSED_TYPES,
        COMPRESS_ALGORITHM=["zstd", "br", "gzip"],
        COMPRESS_STREAMS=False,
        COMPRESS_ZSTD_LEVEL=3,
        COMPRESS_BR_LEVEL=1,
        COMPRESS_LEVEL=5,
        COMPRESS_MIN_SIZE=1000,
    )

    dlogging.configure(settings.log_level, settings.log_json)
    trust_proxies(app, settings.trusted_proxies)
    db.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    formats.init_app(app)
    dlogging.init_app(app)
    permissions.init_app(app)
    transaction.init_app(app)
    errors.init_app(app)
    boundary.init_app(app)  # before the routes: their `<int:...>` converter
    compress.init_app(app)
    _init_login(app)
    _register_blueprints(app)
    _security_headers(app)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        from flask_babel import gettext as _

        message = _(
            "The form has expired or did not come from this site. Reload the page and try again."
        )
        if errors.wants_json():
            return errors.json_error(400, message, code="csrf")
        return errors.render_error(400, message)

    from dinamis.core.labels import label

    app.add_template_filter(label, "label")
    from dinamis.membership.models import document_titles

    app.add_template_filter(document_titles, "document_titles")

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        from flask import has_request_context
        from flask_babel import get_locale

        from dinamis.accounts.forms import LanguageForm, PostForm

        if not has_request_context():  # e-mails rendered by CLI commands and jobs
            return {"current_language": str(get_locale() or "fr")}
        return {
            "tile_url": settings.tile_url,
            "tile_attribution": settings.tile_attribution,
            "current_language": str(get_locale() or "fr"),
            "language_form": LanguageForm(formdata=None),
            "logout_form": PostForm(formdata=None),
        }

    from dinamis.cli import register_commands

    register_commands(app)
    permissions.check_declared(app)
    return app


def trust_proxies(app: Flask, count: int) -> None:
    """Read the client's address and scheme from the `count` proxies in front (ProxyFix).

    Only that many X-Forwarded-For entries, from the right, are believed: a client
    cannot pass for another address by sending the header itself.
    """
    if count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


def _init_login(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l
    from sqlalchemy import select

    from dinamis.accounts.models import User
    from dinamis.extensions import db, login_manager

    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load(session_token: str) -> User | None:
        user = db.session.scalar(select(User).where(User.session_token == session_token))
        return user if user is not None and user.is_active else None


def _register_blueprints(app: Flask) -> None:
    import importlib

    # These modules add their routes to the API blueprint when imported.
    for module in (
        "dinamis.membership.api",
        "dinamis.orders.api",
        "dinamis.dsm.api",
        "dinamis.quota.api",
        "dinamis.reports.api",
        "dinamis.alerts.api",
        "dinamis.webhooks.api",
    ):
        importlib.import_module(module)
    from dinamis.accounts.views import bp as accounts_bp
    from dinamis.api.docs import bp as api_docs_bp
    from dinamis.api.views import bp as api_bp
    from dinamis.core.views import bp as core_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(api_docs_bp)
    from dinamis.quota.views import bp as quota_bp

    app.register_blueprint(quota_bp)
    from dinamis.orders.views import bp as orders_bp

    app.register_blueprint(orders_bp)
    from dinamis.support.views import bp as support_bp

    app.register_blueprint(support_bp)
    from dinamis.membership.staff_views import bp as membership_admin_bp
    from dinamis.membership.views import bp as membership_bp

    app.register_blueprint(membership_bp)
    app.register_blueprint(membership_admin_bp)
    from dinamis.membership.referent_views import bp as referent_bp

    app.register_blueprint(referent_bp)
    from dinamis.catalogue.stac import bp as stac_bp

    app.register_blueprint(stac_bp)
    from dinamis.catalogue.views import bp as catalogue_bp

    app.register_blueprint(catalogue_bp)
    from dinamis.reports.views import bp as reports_bp

    app.register_blueprint(reports_bp)
    from dinamis.jobs.views import bp as jobs_bp

    app.register_blueprint(jobs_bp)
    from dinamis.alerts.views import admin_bp as alerts_admin_bp
    from dinamis.alerts.views import bp as alerts_bp

    app.register_blueprint(alerts_bp)
    app.register_blueprint(alerts_admin_bp)
    from dinamis.webhooks.views import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)
    from dinamis.dsm.views import bp as dsm_bp

    app.register_blueprint(dsm_bp)


def _security_headers(app: Flask) -> None:
    from urllib.parse import urlsplit

    tiles = urlsplit(app.config["DINAMIS_SETTINGS"].tile_url.replace("{s}", "a"))
    # A configured tile server is the one remote origin the map may load images from.
    tile_origin = f" {tiles.scheme}://{tiles.netloc.replace('a.', '*.', 1)}" if tiles.netloc else ""
    csp = (
        f"default-src 'self'; img-src 'self' data: blob:{tile_origin}; style-src 'self'; "
        "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'"
    )

    always = (
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
    )
    secure = (*always, ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))

    @app.after_request
    def _headers(response: Response) -> Response:
        # Each header unless the view set its own. One pass over the answer's headers:
        # Werkzeug's setdefault raised and caught an exception for each header absent
        # (all of them, nearly always), ~0.8 % of an order submission's instructions.
        present = {name.lower() for name, _value in response.headers}
        for name, value in secure if app.config["SESSION_COOKIE_SECURE"] else always:
            if name.lower() not in present:
                response.headers.add(name, value)
        return response
