"""Home page, language switch and the health check."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, session
from flask_login import current_user
from sqlalchemy import text

from dinamis.accounts import service as accounts
from dinamis.accounts.forms import LanguageForm
from dinamis.accounts.permissions import is_signed_in
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
    try:
        postgis = db.session.execute(text("SELECT postgis_lib_version()")).scalar_one()
        revision = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # the point of a health check is to report it
        db.session.rollback()
        body = {
            "status": "error",
            "database": {"status": "unreachable", "error": type(exc).__name__},
        }
        return jsonify(body), 503
    return jsonify(
        {
            "status": "ok",
            "database": {"status": "ok", "postgis": postgis, "migration": revision},
        }
    )
