"""Staff screens for memberships and the audit trail; the Referent's space."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from dinamis.accounts.permissions import is_signed_in
from dinamis.core.errors import ServiceError
from dinamis.core.formats import day as format_day
from dinamis.core.pdf import pdf_response
from dinamis.core.permissions import ensure, requires
from dinamis.extensions import db
from dinamis.membership import audit, certificate, lifecycle, members, service
from dinamis.membership.forms import ApproveForm, ReasonForm
from dinamis.membership.models import Entity, Profile
from dinamis.membership.permissions import (
    can_manage_members,
    can_review_memberships,
    can_view_audit,
    can_view_entity,
    is_entity_manager,
)
from dinamis.membership.requests import AccountRequest, MembershipRequest, RequestStatus

bp = Blueprint("membership_admin", __name__)


@bp.route("/admin/memberships")
@requires(can_review_memberships)
def queue() -> Any:
    status = request.args.get("status") or None
    if status and status not in RequestStatus.ALL:
        abort(400)
    return render_template(
        "membership/queue.html",
        requests=service.queue(status),
        status=status,
        statuses=RequestStatus.ALL,
    )


def _load_request(request_id: int) -> MembershipRequest:
    found = db.session.get(MembershipRequest, request_id)
    if found is None:
        abort(404)
    return found


def _review_page(found: MembershipRequest, status: int = 200, **forms: Any) -> Any:
    approve_form = forms.get("approve_form") or ApproveForm(formdata=None)
    approve_form.profile.choices = [
        (p.id, p.name_en) for p in db.session.scalars(select(Profile).order_by(Profile.id))
    ]
    return (
        render_template(
            "membership/review.html",
            request=found,
            approve_form=approve_form,
            reason_form=forms.get("reason_form") or ReasonForm(formdata=None),
        ),
        status,
    )


@bp.route("/admin/memberships/<int:request_id>")
@requires(can_review_memberships)
def review(request_id: int) -> Any:
    return _review_page(_load_request(request_id))


@bp.route("/admin/memberships/<int:request_id>/approve", methods=["POST"])
@requires(can_review_memberships)
def approve(request_id: int) -> Any:
    found = _load_request(request_id)
    form = ApproveForm()
    try:
        entity = service.approve(current_user, found, form.profile.data or 0)
    except ServiceError as error:
        flash(error.message, "error")
        return _review_page(found, error.status, approve_form=form)
    flash(_("%(name)s is now a member; the certificate was sent.", name=entity.name), "success")
    return redirect(url_for("membership_admin.queue"))


@bp.route("/admin/memberships/<int:request_id>/reject", methods=["POST"])
@requires(can_review_memberships)
def reject(request_id: int) -> Any:
    found = _load_request(request_id)
    form = ReasonForm()
    try:
        service.reject(current_user, found, form.reason.data or "")
    except ServiceError as error:
        flash(error.message, "error")
        return _review_page(found, error.status, reason_form=form)
    flash(_("The request was rejected and the requester told why."), "success")
    return redirect(url_for("membership_admin.queue"))


@bp.route("/admin/audit")
@requires(can_view_audit)
def audit_trail() -> Any:
    entity_id = request.args.get("entity", type=int)
    return render_template("membership/audit.html", events=audit.events(entity_id))


@bp.route("/entities/<int:entity_id>/certificate.pdf")
@requires(is_signed_in)
def certificate_pdf(entity_id: int) -> Any:
    ensure(can_view_entity(current_user, entity_id))
    found = certificate.latest_for(entity_id)
    if found is None:
        abort(404)
    return pdf_response(found.pdf, f"dinamis-certificate-{found.code}.pdf")


@bp.route("/entity")
@requires(is_entity_manager)
def entity_space() -> Any:
    entity = db.session.get(Entity, current_user.entity_id)
    return render_template(
        "membership/entity.html",
        entity=entity,
        members=members.members(entity.id),
        pending=members.pending_requests(entity.id),
        form=ReasonForm(formdata=None),
        has_certificate=certificate.latest_for(entity.id) is not None,
    )


@bp.route("/entity/requests/<int:request_id>/<decision>", methods=["POST"])
@requires(is_entity_manager)
def decide(request_id: int, decision: str) -> Any:
    if decision not in ("approve", "refuse"):
        abort(404)
    found = db.session.get(AccountRequest, request_id)
    if found is None:
        abort(404)
    ensure(can_manage_members(current_user, found.entity_id))
    form = ReasonForm()
    members.decide(current_user, found, decision == "approve", form.reason.data or "")
    flash(_("Account approved.") if decision == "approve" else _("Request refused."), "success")
    return redirect(url_for("membership_admin.entity_space"))


@bp.route("/entity/members/<int:user_id>/<action>", methods=["POST"])
@requires(is_entity_manager)
def member_action(user_id: int, action: str) -> Any:
    form = ReasonForm()
    reason = form.reason.data or ""
    if action in ("suspended", "active", "removed"):
        members.set_status(current_user, user_id, action, reason)
    elif action in ("deputy", "member"):
        members.set_deputy(current_user, user_id, action == "deputy")
    else:
        abort(404)
    flash(_("Saved."), "success")
    return redirect(url_for("membership_admin.entity_space"))


@bp.route("/entity/renewal", methods=["POST"])
@requires(is_entity_manager)
def request_renewal() -> Any:
    entity = db.session.get(Entity, current_user.entity_id)
    lifecycle.request_renewal(current_user, entity)
    flash(_("Renewal requested: the Dinamis team has been told."), "success")
    return redirect(url_for("membership_admin.entity_space"))


@bp.route("/entity/handover", methods=["POST"])
@requires(is_entity_manager)
def offer_handover() -> Any:
    entity = db.session.get(Entity, current_user.entity_id)
    user_id = request.form.get("user_id", type=int)
    if user_id is None:
        abort(400)
    successor = lifecycle.offer_handover(current_user, entity, user_id)
    flash(_("%(name)s was asked to accept the Referent role.", name=successor.full_name), "success")
    return redirect(url_for("membership_admin.entity_space"))


@bp.route("/entity/handover/accept", methods=["POST"])
@requires(is_signed_in)
def accept_handover() -> Any:
    entity = db.session.get(Entity, current_user.entity_id) if current_user.entity_id else None
    if entity is None:
        abort(403)
    lifecycle.accept_handover(current_user, entity)
    flash(_("You are now the Referent of %(name)s.", name=entity.name), "success")
    return redirect(url_for("membership_admin.entity_space"))


def _entities_page(status: int = 200) -> Any:
    rows = db.session.scalars(select(Entity).order_by(Entity.name)).all()
    return (
        render_template(
            "membership/entities.html",
            entities=rows,
            form=ReasonForm(formdata=None),
            profiles=db.session.scalars(select(Profile).order_by(Profile.id)).all(),
        ),
        status,
    )


@bp.route("/admin/entities")
@requires(can_review_memberships)
def entities() -> Any:
    return _entities_page()


@bp.route("/admin/entities/<int:entity_id>/profile", methods=["POST"])
@requires(can_review_memberships)
def change_profile(entity_id: int) -> Any:
    entity = db.session.get(Entity, entity_id)
    if entity is None:
        abort(404)
    form = ApproveForm()
    try:
        changes = service.change_profile(current_user, entity, form.profile.data or 0)
    except ServiceError as error:
        flash(error.message, "error")
        return _entities_page(error.status)
    flash(
        _(
            "%(name)s now has the profile %(profile)s; %(count)s allowance adjustment(s) "
            "recorded on its quota.",
            name=entity.name,
            profile=entity.profile.name(str(get_locale() or "fr")),
            count=len(changes),
        ),
        "success",
    )
    return redirect(url_for("membership_admin.entities"))


@bp.route("/admin/entities/<int:entity_id>/renew", methods=["POST"])
@requires(can_review_memberships)
def renew(entity_id: int) -> Any:
    entity = db.session.get(Entity, entity_id)
    if entity is None:
        abort(404)
    lifecycle.renew(current_user, entity)
    flash(
        _(
            "%(name)s is renewed until %(end)s.",
            name=entity.name,
            end=format_day(entity.membership_end),
        ),
        "success",
    )
    return redirect(url_for("membership_admin.entities"))
