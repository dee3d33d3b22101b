"""/api: the API's reference for people, rendered from its OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from dinamis.api import openapi
from dinamis.core.permissions import public

bp = Blueprint("api_docs", __name__)


@bp.route("/api")
@public
def reference() -> Any:
    operations, schemas = openapi.reference()
    return render_template("api/reference.html", operations=operations, schemas=schemas)
