"""Support requests on the web."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.file import FileField
from sqlalchemy import select

from dinamis.accounts.permissions import is_signed_in
from dinamis.core.columns import values_of
from dinamis.core.exports import content_disposition
from dinamis.core.loading import get_allowed, get_or_404
from dinamis.core.permissions import current_account, ensure, public, requires
from dinamis.core.validation import digits
from dinamis.core.web import Made, hold_form, status_page, submit, submit_once
from dinamis.extensions import db
from dinamis.support import service
from dinamis.support.forms import AssignForm, ReplyForm, TicketForm
from dinamis.support.models import Ticket, TicketAttachment, TicketStatus
from dinamis.support.permissions import can_manage_tickets, can_open_ticket, can_view_ticket

bp = Blueprint("support", __name__, url_prefix="/support")


def _upload(field: FileField) -> service.Upload | None:
    data = field.data
    if data and getattr(data, "filename", ""):
        return service.Upload(filename=data.filename, content=data.read())
    return None


def _draft(form: TicketForm) -> service.Draft:
    return service.Draft(
        subject=form.subject.data or "",
        category=form.category.data or "",
        body=form.body.data or "",
        email=form.email.data,
        name=form.name.data,
    )


@bp.route("/new", methods=["GET", "POST"])
@public
def new() -> Any:
    ensure(can_open_ticket(current_user))
    form = TicketForm()

    def make() -> Made:
        ticket = service.open_ticket(
            current_user,
            _draft(form),
            language=str(get_locale() or "fr"),
            upload=_upload(form.attachment),
        )
        if is_signed_in(current_user):
            target = url_for("support.show", ticket_id=ticket.id)
        else:
            target = url_for("support.by_key", key=ticket.access_key)
        return Made(f"#{ticket.id}", target, _("Your request was sent; we answer by e-mail."))

    return submit_once(
        form,
        "support.new",
        make,
        lambda status: (render_template("support/new.html", form=form), status),
        lambda: service.check_ticket(current_user, _draft(form)),
    )


@bp.route("/")
@requires(is_signed_in)
def index() -> Any:
    tickets = partial(service.visible_tickets, current_account())
    staff = can_manage_tickets(current_user)
    return status_page("support/index.html", values_of(TicketStatus), tickets, staff=staff)


def _page(ticket: Ticket, key: str = "", status: int = 200, form: ReplyForm | None = None) -> Any:
    assign_form = None
    if can_manage_tickets(current_user):
        assign_form = AssignForm(formdata=None, assignee=str(ticket.assignee_id or ""))
        assign_form.assignee.choices = [("", _("nobody"))] + [
            (str(u.id), u.full_name) for u in service.staff_members()
        ]
    return (
        render_template(
            "support/show.html",
            ticket=ticket,
            key=key,
            form=form or ReplyForm(formdata=None),
            assign_form=assign_form,
            staff=can_manage_tickets(current_user),
        ),
        status,
    )


def _load(ticket_id: int) -> Ticket:
    return get_allowed(Ticket, ticket_id, current_user, can_view_ticket)


def _load_by_key(key: str) -> Ticket:
    ticket = db.session.scalar(select(Ticket).where(Ticket.access_key == key))
    if ticket is None:
        abort(404)
    return ticket


@bp.route("/<int:ticket_id>")
@requires(is_signed_in)
def show(ticket_id: int) -> Any:
    return _page(_load(ticket_id))


@bp.route("/t/<key>")
@public
def by_key(key: str) -> Any:
    return _page(_load_by_key(key), key=key)


def _reply(ticket: Ticket, key: str, back: str) -> Any:
    form = ReplyForm()

    def send() -> Any:
        # A second sending of the same form (a double click) adds nothing: the person
        # sees the request with the message the first one added.
        claim = hold_form(form, "support.reply", current_user)
        if claim.earlier is None:
            message = form.body.data or ""
            service.reply(current_user, ticket, message, _upload(form.attachment), key=key)
            claim.record(f"#{ticket.id}", back)
        flash(_("Your message was added."), "success")
        return redirect(back)

    return submit(form, send, lambda status: _page(ticket, key, status, form))


@bp.route("/<int:ticket_id>/reply", methods=["POST"])
@requires(is_signed_in)
def reply(ticket_id: int) -> Any:
    ticket = _load(ticket_id)
    return _reply(ticket, "", url_for("support.show", ticket_id=ticket.id))


@bp.route("/t/<key>/reply", methods=["POST"])
@public
def reply_by_key(key: str) -> Any:
    ticket = _load_by_key(key)
    return _reply(ticket, key, url_for("support.by_key", key=key))


@bp.route("/<int:ticket_id>/assign", methods=["POST"])
@requires(can_manage_tickets)
def assign(ticket_id: int) -> Any:
    ticket = _load(ticket_id)
    form = AssignForm()
    if not form.validate_on_submit():
        return _page(ticket, status=400)
    value = form.assignee.data or ""
    if value and not digits(value):
        abort(400)
    service.assign(current_account(), ticket, int(value) if value else None)
    flash(_("Assignment saved."), "success")
    return redirect(url_for("support.show", ticket_id=ticket.id))


@bp.route("/<int:ticket_id>/close", methods=["POST"])
@requires(is_signed_in)
def close(ticket_id: int) -> Any:
    ticket = _load(ticket_id)  # the CSRF token was checked before the view
    service.close(current_user, ticket)
    flash(_("The request is closed."), "success")
    return redirect(url_for("support.show", ticket_id=ticket.id))


@bp.route("/attachments/<int:attachment_id>")
@public
def attachment(attachment_id: int) -> Any:
    found = get_or_404(TicketAttachment, attachment_id)
    ticket = found.message.ticket
    key = request.args.get("key", "")
    ensure(can_view_ticket(current_user, ticket) or (bool(key) and key == ticket.access_key))
    return Response(
        found.content,
        mimetype=found.media_type,
        headers={
            "Content-Disposition": content_disposition(found.filename),
            "X-Content-Type-Options": "nosniff",
        },
    )
