"""Home page, language switch and the health check."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, session
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dinamis import config
from dinamis.accounts import service as accounts
from dinamis.accounts.forms import LanguageForm
from dinamis.accounts.permissions import is_signed_in
from dinamis.core.errors import DATABASE_RETRY_AFTER, database_is_down
from dinamis.core.permissions import public
from dinamis.core.web import safe_next
from dinamis.extensions import db
from dinamis.orders.permissions import can_order

bp = Blueprint("core", __name__)


@bp.route("/")
@public
def home() -> Any:
    return render_template("core/home.html", may_order=can_order(current_user))


@bp.route("/language", methods=["POST"])
@public
def switch_language() -> Any:
    form = LanguageForm()
    if form.validate_on_submit() and form.language.data in ("fr", "en"):
        session["lang"] = form.language.data
        if is_signed_in(current_user):
            accounts.set_language(current_user, form.language.data)
    return redirect(safe_next(form.next.data))


@bp.route("/healthz")
@public
def healthz() -> Any:
    """What the app needs, each with its state; 503 and `down` naming what is not there."""
    body: dict[str, Any] = {"status": "ok", "down": []}
    try:
        postgis = db.session.execute(text("SELECT postgis_lib_version()")).scalar_one()
        revision = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        body["database"] = {"status": "ok", "postgis": postgis, "migration": revision}
    except Exception as exc:  # the point of a health check is to report it
        with contextlib.suppress(DBAPIError):  # the connection is gone: nothing to roll back
            db.session.rollback()
        unreachable = database_is_down(exc)
        body["database"] = {
            "status": "unreachable" if unreachable else "error",
            "error": type(getattr(exc, "orig", None) or exc).__name__,
        }
        body["down"].append("database")
    # The storage folder, or the folder it will be made in on first use, is writable.
    storage = Path(config.current().storage_root).absolute()
    while not storage.exists() and storage != storage.parent:
        storage = storage.parent
    writable = storage.is_dir() and os.access(storage, os.W_OK)
    body["storage"] = {"status": "ok" if writable else "unwritable"}
    if not writable:
        body["down"].append("storage")
    if body["down"]:
        body["status"] = "error"
        response = jsonify(body)
        response.status_code = 503
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response
    return jsonify(body)
