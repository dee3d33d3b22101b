"""The entity's details page (Referent) and the staff review of legal changes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from dinamis.core.errors import ServiceError
from dinamis.core.permissions import requires
from dinamis.core.web import apply_service_error
from dinamis.extensions import db
from dinamis.membership import details
from dinamis.membership.forms import EntityDetailsForm, ReasonForm
from dinamis.membership.models import Entity
from dinamis.membership.permissions import can_review_memberships, is_entity_manager
from dinamis.membership.requests import EntityChange

bp = Blueprint("entity_details", __name__)


@bp.route("/entity/details", methods=["GET", "POST"])
@requires(is_entity_manager)
def edit() -> Any:
    entity = db.session.get(Entity, current_user.entity_id)
    if request.method == "GET":
        form = EntityDetailsForm(obj=entity, email_domains=", ".join(entity.email_domains or []))
        return render_template("membership/details_edit.html", form=form, entity=entity)
    form = EntityDetailsForm()
    if not form.validate_on_submit():
        return render_template("membership/details_edit.html", form=form, entity=entity), 422
    values = {
        name: str(field.data or "") for name, field in form._fields.items() if name != "csrf_token"
    }
    try:
        change = details.update_details(current_user, entity, values)
    except ServiceError as error:
        apply_service_error(form, error)
        return render_template(
            "membership/details_edit.html", form=form, entity=entity
        ), error.status
    if change is not None:
        flash(
            _(
                "Saved. The changes of legal data will apply once the Dinamis team "
                "has checked them."
            ),
            "success",
        )
    else:
        flash(_("Saved."), "success")
    return redirect(url_for("membership_admin.entity_space"))


@bp.route("/admin/entity-changes")
@requires(can_review_memberships)
def changes() -> Any:
    return render_template(
        "membership/changes.html", changes=details.pending_changes(), form=ReasonForm(formdata=None)
    )


@bp.route("/admin/entity-changes/<int:change_id>/<decision>", methods=["POST"])
@requires(can_review_memberships)
def decide(change_id: int, decision: str) -> Any:
    if decision not in ("approve", "reject"):
        abort(404)
    change = db.session.get(EntityChange, change_id)
    if change is None:
        abort(404)
    details.decide_change(
        current_user, change, decision == "approve", ReasonForm().reason.data or ""
    )
    flash(_("Saved."), "success")
    return redirect(url_for("entity_details.changes"))
