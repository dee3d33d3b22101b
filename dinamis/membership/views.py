"""Joining: the membership request, the Legal Representative, account requests, /verify."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from dinamis.core.errors import ServiceError
from dinamis.core.idempotency import Earlier
from dinamis.core.permissions import public
from dinamis.core.web import add_field_errors, apply_service_error, hold_form, refused_form, submit
from dinamis.extensions import limiter
from dinamis.membership import members, service
from dinamis.membership.forms import AccountRequestForm, DetailsForm, LegalRepForm, StartForm

bp = Blueprint("membership", __name__)


def _lang() -> str:
    return str(get_locale() or "fr")


class DeadLink(Exception):
    """An e-mailed link that no longer opens anything: used, expired, or not ours."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@contextmanager
def _link() -> Iterator[None]:
    """Open what an e-mailed link names; the service's refusal becomes a DeadLink."""
    try:
        yield
    except ServiceError as error:
        raise DeadLink(error.message) from None


@bp.errorhandler(DeadLink)
def dead_link(error: DeadLink) -> Any:
    return render_template("membership/link_invalid.html", message=error.message), 400


def _email_form(
    form: Any,
    scope: str,
    template: str,
    send: Callable[[], object],
    check: Callable[[], dict[str, str]],
    **page: Any,
) -> Any:
    """A public form answered by "check your e-mail" (asking to join, asking for an
    account): sent once (a second sending shows the first answer), refused with every
    field's problem at once."""

    def act() -> Any:
        claim = hold_form(form, scope)
        if claim.earlier is not None:
            return _sent_again(claim.earlier)
        send()
        claim.record(form.email.data or "", email=form.email.data)
        return render_template("membership/check_email.html", email=form.email.data)

    return submit(
        form, act, lambda status: (render_template(template, form=form, **page), status), check
    )


@bp.route("/join", methods=["GET", "POST"])
@public
@limiter.limit("20 per hour", methods=["POST"])
def start() -> Any:
    form = StartForm()
    return _email_form(
        form,
        "membership.start",
        "membership/start.html",
        send=lambda: service.start(**form.person(), language=_lang()),
        check=lambda: service.check_start(**form.person()),
    )


def _sent_again(earlier: Earlier, template: str = "membership/check_email.html") -> Any:
    """A public form sent a second time (Back, a double click): its first answer again."""
    flash(_("This request was already sent; nothing was sent a second time."), "info")
    return render_template(template, **earlier.data)


@bp.route("/join/details/<token>", methods=["GET", "POST"])
@public
def details(token: str) -> Any:
    form = DetailsForm()
    with _link():
        # Before the link's own check: once sent, the link is used, and sending the
        # same form again (Back) shows that it went through rather than a dead link.
        claim = hold_form(form, "membership.details") if form.is_submitted() else None
        if claim is not None and claim.earlier is not None:
            return _sent_again(claim.earlier, "membership/submitted.html")
        membership = service.open_for_details(token)
    typed = service.Details(
        **{name: (getattr(form, name).data or "") for name in service.Details.__dataclass_fields__}
    )
    if form.validate_on_submit():
        try:
            service.submit_details(token, typed)
        except ServiceError as error:
            apply_service_error(form, error)
            return render_template(
                "membership/details.html",
                form=form,
                membership_request=membership,
                request_token=token,
            ), error.status
        if claim is not None:
            claim.record(membership.entity_name or "")
        return render_template("membership/submitted.html")
    status = 200
    if request.method == "POST":
        add_field_errors(form, service.check_details(typed))
        refused_form(form)
        status = 422
    return render_template(
        "membership/details.html", form=form, membership_request=membership, request_token=token
    ), status


@bp.route("/join/details/<token>/withdraw", methods=["POST"])
@public
def withdraw(token: str) -> Any:
    with _link():
        service.withdraw(token)
    flash(_("Your membership request is withdrawn."), "success")
    return redirect(url_for("core.home"))


@bp.route("/join/legal/<token>", methods=["GET", "POST"])
@public
def legal(token: str) -> Any:
    with _link():
        membership = service.for_legal_rep(token)
    documents = service.current_documents()
    form = LegalRepForm(name=membership.legal_rep_name, function=membership.legal_rep_function)
    form.documents.choices = [(d.id, f"{d.local_title} (v{d.version})") for d in documents]

    def accept() -> Any:
        service.legal_rep_accepts(
            token,
            name=form.name.data or "",
            function=form.function.data or "",
            accepted=list(form.documents.data or []),
            ip=request.remote_addr or "",
            user_agent=request.user_agent.string,
        )
        return render_template("membership/accepted.html", membership_request=membership)

    return submit(
        form,
        accept,
        lambda status: (
            render_template(
                "membership/legal.html",
                form=form,
                membership_request=membership,
                documents=documents,
            ),
            status,
        ),
    )


@bp.route("/verify/<code>")
@public
def verify(code: str) -> Any:
    found = service.certificate_by_code(code)
    return render_template(
        "membership/verify.html", certificate=found, code=code
    ), 200 if found else 404


@bp.route("/join/account", methods=["GET", "POST"])
@public
@limiter.limit("20 per hour", methods=["POST"])
def request_account() -> Any:
    form = AccountRequestForm()
    query = request.args.get("q", "").strip()
    person = form.person()
    return _email_form(
        form,
        "membership.account",
        "membership/account.html",
        send=lambda: members.request_account(
            **person,
            job_title=form.job_title.data or "",
            entity_id=form.entity.data or 0,
            language=_lang(),
        ),
        check=lambda: members.check_account_request(**person, entity_id=form.entity.data),
        found=members.search_entities(query) if query else [],
        q=query,
    )


@bp.route("/join/account/confirm/<token>")
@public
def confirm_account(token: str) -> Any:
    with _link():
        account = members.confirm_account_email(token)
    flash(
        _(
            "Your address is confirmed. The Referent of %(name)s will decide on your request.",
            name=account.entity.name,
        ),
        "success",
    )
    return redirect(url_for("core.home"))
