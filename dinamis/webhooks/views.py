"""The portal's webhook pages: a member's own webhooks; staff's view of failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from dinamis.accounts.forms import PostForm
from dinamis.accounts.models import Visitor
from dinamis.core.errors import ServiceError
from dinamis.core.loading import get_allowed
from dinamis.core.permissions import current_account, requires
from dinamis.core.web import act_then
from dinamis.webhooks import service
from dinamis.webhooks.forms import WebhookForm
from dinamis.webhooks.models import Webhook
from dinamis.webhooks.permissions import (
    can_manage_own_webhooks,
    can_manage_webhook,
    can_oversee_webhooks,
    can_switch_on_webhook,
)

bp = Blueprint("webhooks", __name__)


def _webhook(
    webhook_id: int, check: Callable[[Visitor, Webhook], bool] = can_manage_webhook
) -> Webhook:
    return get_allowed(Webhook, webhook_id, current_user, check)


def _index(form: WebhookForm, *, secret: str | None = None, status: int = 200) -> Any:
    return (
        render_template(
            "webhooks/index.html",
            webhooks=service.owned(current_account()),
            form=form,
            post_form=PostForm(formdata=None),
            secret=secret,
            limit=service.MAX_WEBHOOKS_PER_USER,
        ),
        status,
    )


def _show(
    webhook: Webhook, form: WebhookForm, *, secret: str | None = None, status: int = 200
) -> Any:
    return (
        render_template(
            "webhooks/show.html",
            webhook=webhook,
            form=form,
            post_form=PostForm(formdata=None),
            deliveries=service.deliveries(webhook),
            secret=secret,
        ),
        status,
    )


def _refused(form: WebhookForm, error: ServiceError) -> None:
    for name, message in error.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message]
    if not error.fields:
        flash(error.message, "error")


@bp.route("/webhooks/", methods=["GET", "POST"])
@requires(can_manage_own_webhooks)
def index() -> Any:
    form = WebhookForm()
    if not form.is_submitted():
        return _index(form)
    if not form.validate():
        return _index(form, status=422)
    try:
        webhook, secret = service.create(
            current_account(),
            url=form.url.data or "",
            description=form.description.data,
            order_events=bool(form.order_events.data),
        )
    except ServiceError as error:
        _refused(form, error)
        return _index(form, status=error.status)
    # Shown on this answer only (never stored in the session nor shown again).
    return _show(webhook, WebhookForm(formdata=None, obj=webhook), secret=secret, status=201)


@bp.route("/webhooks/<int:webhook_id>", methods=["GET", "POST"])
@requires(can_manage_own_webhooks)
def show(webhook_id: int) -> Any:
    webhook = _webhook(webhook_id)
    form = WebhookForm(obj=webhook)
    if not form.is_submitted():
        return _show(webhook, form)
    if not form.validate():
        return _show(webhook, form, status=422)
    try:
        service.update_webhook(
            current_account(),
            webhook,
            url=form.url.data or "",
            description=form.description.data or "",
            order_events=bool(form.order_events.data),
        )
    except ServiceError as error:
        _refused(form, error)
        return _show(webhook, form, status=error.status)
    flash(_("Webhook saved."), "success")
    return redirect(url_for("webhooks.show", webhook_id=webhook.id))


def _check_posted() -> None:
    """A button's POST: its form's CSRF token checked, or a 400."""
    if not PostForm().validate():
        abort(400)


def _act(webhook: Webhook, action: Callable[[], object], done: str) -> Any:
    _check_posted()

    def act() -> str:
        action()
        return done

    return act_then(
        act,
        url_for("webhooks.show", webhook_id=webhook.id),
        lambda status: _show(webhook, WebhookForm(formdata=None, obj=webhook), status=status),
    )


@bp.route("/webhooks/<int:webhook_id>/secret", methods=["POST"])
@requires(can_manage_own_webhooks)
def rotate_secret(webhook_id: int) -> Any:
    webhook = _webhook(webhook_id)
    _check_posted()
    secret = service.rotate_secret(current_account(), webhook)
    return _show(webhook, WebhookForm(formdata=None, obj=webhook), secret=secret)


@bp.route("/webhooks/<int:webhook_id>/test", methods=["POST"])
@requires(can_manage_own_webhooks)
def send_test(webhook_id: int) -> Any:
    user = current_account()
    webhook = _webhook(webhook_id)
    return _act(
        webhook,
        lambda: service.send_test(user, webhook),
        _("Test event queued: it is sent in a moment; its result appears below."),
    )


@bp.route("/webhooks/<int:webhook_id>/off", methods=["POST"])
@requires(can_manage_own_webhooks)
def switch_off(webhook_id: int) -> Any:
    user = current_account()
    webhook = _webhook(webhook_id)
    return _act(webhook, lambda: service.switch_off(user, webhook), _("Webhook switched off."))


@bp.route("/webhooks/<int:webhook_id>/on", methods=["POST"])
@requires(can_manage_own_webhooks)
def switch_on(webhook_id: int) -> Any:
    user = current_account()
    webhook = _webhook(webhook_id, can_switch_on_webhook)
    return _act(webhook, lambda: service.switch_on(user, webhook), _("Webhook switched on."))


@bp.route("/webhooks/<int:webhook_id>/delete", methods=["POST"])
@requires(can_manage_own_webhooks)
def delete(webhook_id: int) -> Any:
    webhook = _webhook(webhook_id)
    _check_posted()
    service.delete(current_account(), webhook)
    flash(_("Webhook deleted."), "success")
    return redirect(url_for("webhooks.index"))


@bp.route("/admin/webhooks/")
@requires(can_oversee_webhooks)
def admin() -> Any:
    hooks, failed = service.overview(current_account())
    return render_template(
        "webhooks/admin.html", webhooks=hooks, failed=failed, post_form=PostForm(formdata=None)
    )


@bp.route("/admin/webhooks/<int:webhook_id>/off", methods=["POST"])
@requires(can_oversee_webhooks)
def admin_switch_off(webhook_id: int) -> Any:
    webhook = _webhook(webhook_id, lambda user, _hook: can_oversee_webhooks(user))
    _check_posted()
    service.switch_off(current_account(), webhook)
    flash(_("Webhook %(id)s switched off.", id=webhook.id), "success")
    return redirect(url_for("webhooks.admin"))
