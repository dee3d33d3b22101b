"""Staff screens of the membership domain: the queue of membership requests and their
review, the entities (profile, renewal), the review of legal changes, the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from dinamis.core.columns import values_of
from dinamis.core.formats import day as format_day
from dinamis.core.loading import get_or_404
from dinamis.core.permissions import current_account, requires
from dinamis.core.web import act_then, status_page
from dinamis.extensions import db
from dinamis.membership import audit, entities, service
from dinamis.membership.forms import ApproveForm, ReasonForm
from dinamis.membership.models import (
    Entity,
    EntityChange,
    MembershipRequest,
    Profile,
    RequestStatus,
)
from dinamis.membership.permissions import (
    can_review_memberships,
    can_view_audit,
)

bp = Blueprint("membership_admin", __name__)


@bp.route("/admin/memberships")
@requires(can_review_memberships)
def queue() -> Any:
    return status_page("membership/queue.html", values_of(RequestStatus), service.queue)


def _review_page(found: MembershipRequest, status: int = 200, **forms: Any) -> Any:
    approve_form = forms.get("approve_form") or ApproveForm(formdata=None)
    approve_form.profile.choices = [
        (p.id, p.name_en) for p in db.session.scalars(select(Profile).order_by(Profile.id))
    ]
    return (
        render_template(
            "membership/review.html",
            membership_request=found,
            approve_form=approve_form,
            reason_form=forms.get("reason_form") or ReasonForm(formdata=None),
        ),
        status,
    )


@bp.route("/admin/memberships/<int:request_id>")
@requires(can_review_memberships)
def review(request_id: int) -> Any:
    return _review_page(get_or_404(MembershipRequest, request_id))


@bp.route("/admin/memberships/<int:request_id>/approve", methods=["POST"])
@requires(can_review_memberships)
def approve(request_id: int) -> Any:
    form = ApproveForm()

    def act(found: MembershipRequest) -> str:
        entity = service.approve(current_account(), found, form.profile.data or 0)
        return _("%(name)s is now a member; the certificate was sent.", name=entity.name)

    return _decide(request_id, act, approve_form=form)


@bp.route("/admin/memberships/<int:request_id>/reject", methods=["POST"])
@requires(can_review_memberships)
def reject(request_id: int) -> Any:
    form = ReasonForm()

    def act(found: MembershipRequest) -> str:
        service.reject(current_account(), found, form.reason.data or "")
        return _("The request was rejected and the requester told why.")

    return _decide(request_id, act, reason_form=form)


def _decide(request_id: int, act: Callable[[MembershipRequest], str], **form: Any) -> Any:
    """The staff's decision on a membership request (`act` does it and says what was
    done): back to the queue, or the request's page again with the refusal and the form
    that was sent (`approve_form` or `reason_form`)."""
    found = get_or_404(MembershipRequest, request_id)
    return act_then(
        lambda: act(found),
        url_for("membership_admin.queue"),
        lambda status: _review_page(found, status, **form),
    )


@bp.route("/admin/audit")
@requires(can_view_audit)
def audit_trail() -> Any:
    entity_id = request.args.get("entity", type=int)
    return render_template("membership/audit.html", events=audit.events(entity_id))


@bp.route("/admin/entities")
@requires(can_review_memberships)
def entity_list(status: int = 200) -> Any:
    """The entities (`status`: a refused action's, showing the list again)."""
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


@bp.route("/admin/entities/<int:entity_id>/profile", methods=["POST"])
@requires(can_review_memberships)
def change_profile(entity_id: int) -> Any:
    entity = get_or_404(Entity, entity_id)
    form = ApproveForm()

    def act() -> str:
        changes = service.change_profile(current_account(), entity, form.profile.data or 0)
        return _(
            "%(name)s now has the profile %(profile)s; %(count)s allowance adjustment(s) "
            "recorded on its quota.",
            name=entity.name,
            profile=entity.profile.name(str(get_locale() or "fr")),
            count=len(changes),
        )

    return act_then(act, url_for("membership_admin.entity_list"), entity_list)


@bp.route("/admin/entities/<int:entity_id>/renew", methods=["POST"])
@requires(can_review_memberships)
def renew(entity_id: int) -> Any:
    entity = get_or_404(Entity, entity_id)
    entities.renew(current_account(), entity)
    assert entity.membership_end is not None  # renewing sets it
    flash(
        _(
            "%(name)s is renewed until %(end)s.",
            name=entity.name,
            end=format_day(entity.membership_end),
        ),
        "success",
    )
    return redirect(url_for("membership_admin.entity_list"))


@bp.route("/admin/entity-changes")
@requires(can_review_memberships)
def entity_changes() -> Any:
    return render_template(
        "membership/changes.html",
        changes=entities.pending_changes(),
        form=ReasonForm(formdata=None),
    )


@bp.route("/admin/entity-changes/<int:change_id>/<any(approve, reject):decision>", methods=["POST"])
@requires(can_review_memberships)
def decide_change(change_id: int, decision: str) -> Any:
    change = get_or_404(EntityChange, change_id)
    entities.decide_change(
        current_account(), change, decision == "approve", ReasonForm().reason.data or ""
    )
    flash(_("Saved."), "success")
    return redirect(url_for("membership_admin.entity_changes"))
