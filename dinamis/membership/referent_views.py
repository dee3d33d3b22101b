"""The Referent's space (the Referent and deputies of an entity): its members and the
account requests, its details, renewal, the hand-over of the Referent role, the
certificate."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from dinamis.accounts.permissions import is_signed_in
from dinamis.core.loading import get_or_404
from dinamis.core.pdf import pdf_response
from dinamis.core.permissions import current_account, ensure, requires
from dinamis.core.web import submit
from dinamis.extensions import db
from dinamis.membership import entities, members, service
from dinamis.membership.forms import EntityDetailsForm, ReasonForm
from dinamis.membership.models import (
    AccountRequest,
    Entity,
)
from dinamis.membership.permissions import (
    can_manage_members,
    can_view_entity,
    is_entity_manager,
)

bp = Blueprint("referent", __name__)


def _done(message: str) -> Any:
    """Every action of the Referent's space ends back in the space, saying what it did."""
    flash(message, "success")
    return redirect(url_for("referent.entity_space"))


def _own_entity() -> Entity:
    """The entity of the signed-in Referent or deputy (`is_entity_manager` saw it has one)."""
    entity = db.session.get(Entity, current_account().entity_id)
    if entity is None:
        abort(403)
    return entity


@bp.route("/entity")
@requires(is_entity_manager)
def entity_space() -> Any:
    entity = _own_entity()
    return render_template(
        "membership/entity.html",
        entity=entity,
        members=members.members(entity.id),
        pending=members.pending_requests(entity.id),
        form=ReasonForm(formdata=None),
        has_certificate=service.latest_certificate(entity.id) is not None,
    )


@bp.route("/entity/requests/<int:request_id>/<any(approve, refuse):decision>", methods=["POST"])
@requires(is_entity_manager)
def decide(request_id: int, decision: str) -> Any:
    user = current_account()
    found = get_or_404(AccountRequest, request_id)
    ensure(can_manage_members(user, found.entity_id))
    form = ReasonForm()
    members.decide(user, found, decision == "approve", form.reason.data or "")
    return _done(_("Account approved.") if decision == "approve" else _("Request refused."))


@bp.route("/entity/members/<int:user_id>/<action>", methods=["POST"])
@requires(is_entity_manager)
def member_action(user_id: int, action: str) -> Any:
    form = ReasonForm()
    reason = form.reason.data or ""
    if action in ("suspended", "active", "removed"):
        members.set_status(current_account(), user_id, action, reason)
    elif action in ("deputy", "member"):
        members.set_deputy(current_account(), user_id, action == "deputy")
    else:
        abort(404)
    return _done(_("Saved."))


@bp.route("/entity/renewal", methods=["POST"])
@requires(is_entity_manager)
def request_renewal() -> Any:
    entity = _own_entity()
    entities.request_renewal(current_account(), entity)
    return _done(_("Renewal requested: the Dinamis team has been told."))


@bp.route("/entity/handover", methods=["POST"])
@requires(is_entity_manager)
def offer_handover() -> Any:
    entity = _own_entity()
    user_id = request.form.get("user_id", type=int)
    if user_id is None:
        abort(400)
    successor = entities.offer_handover(current_account(), entity, user_id)
    return _done(_("%(name)s was asked to accept the Referent role.", name=successor.full_name))


@bp.route("/entity/handover/accept", methods=["POST"])
@requires(is_signed_in)
def accept_handover() -> Any:
    user = current_account()
    entity = db.session.get(Entity, user.entity_id) if user.entity_id else None
    if entity is None:
        abort(403)
    entities.accept_handover(user, entity)
    return _done(_("You are now the Referent of %(name)s.", name=entity.name))


@bp.route("/entities/<int:entity_id>/certificate.pdf")
@requires(is_signed_in)
def certificate_pdf(entity_id: int) -> Any:
    ensure(can_view_entity(current_user, entity_id))
    found = service.latest_certificate(entity_id)
    if found is None:
        abort(404)
    return pdf_response(found.pdf, f"dinamis-certificate-{found.code}.pdf")


@bp.route("/entity/details", methods=["GET", "POST"])
@requires(is_entity_manager)
def edit_details() -> Any:
    entity = _own_entity()
    if request.method == "GET":
        form = EntityDetailsForm(obj=entity, email_domains=", ".join(entity.email_domains or []))
        return render_template("membership/details_edit.html", form=form, entity=entity)
    form = EntityDetailsForm()

    def save() -> Any:
        values = {
            name: str(field.data or "")
            for name, field in form._fields.items()
            if name != "csrf_token"
        }
        if entities.update_details(current_account(), entity, values) is not None:
            return _done(
                _(
                    "Saved. The changes of legal data will apply once the Dinamis team "
                    "has checked them."
                )
            )
        return _done(_("Saved."))

    return submit(
        form,
        save,
        lambda status: (
            render_template("membership/details_edit.html", form=form, entity=entity),
            status,
        ),
    )
