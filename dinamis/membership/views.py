"""Joining: the membership request, the Legal Representative, account requests, /verify."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from dinamis.core.errors import ServiceError
from dinamis.core.permissions import public
from dinamis.core.web import apply_service_error
from dinamis.extensions import limiter
from dinamis.membership import certificate, members, service
from dinamis.membership.forms import AccountRequestForm, DetailsForm, LegalRepForm, StartForm

bp = Blueprint("membership", __name__)


def _lang() -> str:
    return str(get_locale() or "fr")


@bp.route("/join", methods=["GET", "POST"])
@public
@limiter.limit("20 per hour", methods=["POST"])
def start() -> Any:
    form = StartForm()
    if form.validate_on_submit():
        try:
            service.start(
                form.email.data or "",
                form.first_name.data or "",
                form.last_name.data or "",
                _lang(),
            )
        except ServiceError as error:
            apply_service_error(form, error)
            return render_template("membership/start.html", form=form), error.status
        return render_template("membership/check_email.html", email=form.email.data)
    return render_template(
        "membership/start.html", form=form
    ), 422 if request.method == "POST" else 200


@bp.route("/join/details/<token>", methods=["GET", "POST"])
@public
def details(token: str) -> Any:
    try:
        membership = service.open_for_details(token)
    except ServiceError as error:
        return render_template("membership/link_invalid.html", message=error.message), 400
    form = DetailsForm()
    if form.validate_on_submit():
        try:
            service.submit_details(
                token,
                service.Details(
                    **{
                        name: (getattr(form, name).data or "")
                        for name in service.Details.__dataclass_fields__
                    }
                ),
            )
        except ServiceError as error:
            apply_service_error(form, error)
            return render_template(
                "membership/details.html", form=form, request=membership
            ), error.status
        return render_template("membership/submitted.html")
    status = 422 if request.method == "POST" else 200
    return render_template(
        "membership/details.html", form=form, request=membership, request_token=token
    ), status


@bp.route("/join/details/<token>/withdraw", methods=["POST"])
@public
def withdraw(token: str) -> Any:
    try:
        service.withdraw(token)
    except ServiceError as error:
        return render_template("membership/link_invalid.html", message=error.message), 400
    flash(_("Your membership request is withdrawn."), "success")
    return redirect(url_for("core.home"))


@bp.route("/join/legal/<token>", methods=["GET", "POST"])
@public
def legal(token: str) -> Any:
    try:
        membership = service.for_legal_rep(token)
    except ServiceError as error:
        return render_template("membership/link_invalid.html", message=error.message), 400
    documents = service.current_documents()
    form = LegalRepForm(name=membership.legal_rep_name, function=membership.legal_rep_function)
    form.documents.choices = [(d.id, f"{d.title} (v{d.version})") for d in documents]
    if form.validate_on_submit():
        try:
            service.legal_rep_accepts(
                token,
                name=form.name.data or "",
                function=form.function.data or "",
                accepted=list(form.documents.data or []),
                ip=request.remote_addr or "",
                user_agent=request.user_agent.string,
            )
        except ServiceError as error:
            apply_service_error(form, error)
            return (
                render_template(
                    "membership/legal.html", form=form, request=membership, documents=documents
                ),
                error.status,
            )
        return render_template("membership/accepted.html", request=membership)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "membership/legal.html", form=form, request=membership, documents=documents
    ), status


@bp.route("/verify/<code>")
@public
def verify(code: str) -> Any:
    found = certificate.by_code(code)
    return render_template(
        "membership/verify.html", certificate=found, code=code
    ), 200 if found else 404


@bp.route("/join/account", methods=["GET", "POST"])
@public
@limiter.limit("20 per hour", methods=["POST"])
def request_account() -> Any:
    form = AccountRequestForm()
    query = request.args.get("q", "").strip()
    found = members.search_entities(query) if query else []
    if form.validate_on_submit():
        try:
            members.request_account(
                email=form.email.data or "",
                first_name=form.first_name.data or "",
                last_name=form.last_name.data or "",
                job_title=form.job_title.data or "",
                entity_id=form.entity.data or 0,
                language=_lang(),
            )
        except ServiceError as error:
            apply_service_error(form, error)
            return render_template(
                "membership/account.html", form=form, found=found, q=query
            ), error.status
        return render_template("membership/check_email.html", email=form.email.data)
    status = 422 if request.method == "POST" else 200
    return render_template("membership/account.html", form=form, found=found, q=query), status


@bp.route("/join/account/confirm/<token>")
@public
def confirm_account(token: str) -> Any:
    try:
        account = members.confirm_account_email(token)
    except ServiceError as error:
        return render_template("membership/link_invalid.html", message=error.message), 400
    flash(
        _(
            "Your address is confirmed. The Referent of %(name)s will decide on your request.",
            name=account.entity.name,
        ),
        "success",
    )
    return redirect(url_for("core.home"))
