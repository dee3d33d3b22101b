"""The entity's quota page, its statement (CSV) and staff adjustments."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from dinamis.accounts.permissions import is_signed_in
from dinamis.core import dates
from dinamis.core.errors import ServiceError, refuse
from dinamis.core.exports import content_disposition
from dinamis.core.loading import get_or_404
from dinamis.core.permissions import current_account, ensure, requires
from dinamis.core.web import apply_service_error
from dinamis.membership.models import Entity
from dinamis.orders import service as orders
from dinamis.orders.permissions import can_view_order
from dinamis.quota import service
from dinamis.quota.forms import AdjustmentForm
from dinamis.quota.permissions import (
    can_adjust_quota,
    can_view_entity_quota,
    can_view_own_quota,
)
from dinamis.quota.statement import StatementLine, statement, statement_csv

bp = Blueprint("quota", __name__, url_prefix="/quota")


def _load_entity(entity_id: int) -> Entity:
    entity = get_or_404(Entity, entity_id)
    ensure(can_view_entity_quota(current_user, entity.id))
    return entity


def _period() -> str:
    period = request.args.get("period") or service.period_for(dates.today())
    try:
        return service.validate_period(period)
    except ServiceError as error:
        refuse(400, error.message)


@bp.route("/")
@requires(can_view_own_quota)
def mine() -> Any:
    return redirect(url_for("quota.entity", entity_id=current_account().entity_id))


def _orders_of(lines: list[StatementLine]) -> dict[str, tuple[str, str | None]]:
    """Each order reference of the statement as its number, and its page when the viewer
    may open it."""
    found = orders.by_ids({line.order_id for line in lines if line.order_id is not None})
    return {
        order.reference: (
            order.number,
            url_for("orders.show", order_id=order.id)
            if can_view_order(current_user, order)
            else None,
        )
        for order in found.values()
    } | _dsm_requests_of(lines)


def _dsm_requests_of(lines: list[StatementLine]) -> dict[str, tuple[str, str | None]]:
    from dinamis.dsm.views import statement_references  # surface-model requests (dsm:12)

    return statement_references([line.reference for line in lines])


def _page(
    entity: Entity, period: str, form: AdjustmentForm | None = None, status: int = 200
) -> Any:
    balances = [b for b in service.balances(entity) if b.period == period]
    periods = sorted({b.period for b in service.balances(entity)} | {period}, reverse=True)
    lines = statement(entity, period)
    if form is None and can_adjust_quota(current_user):
        form = AdjustmentForm(formdata=None, period=period, key=secrets.token_hex(8))
    return (
        render_template(
            "quota/entity.html",
            entity=entity,
            period=period,
            periods=periods,
            balances=balances,
            lines=lines,
            orders=_orders_of(lines),
            form=form,
        ),
        status,
    )


@bp.route("/<int:entity_id>")
@requires(is_signed_in)
def entity(entity_id: int) -> Any:
    return _page(_load_entity(entity_id), _period())


@bp.route("/<int:entity_id>/statement.csv")
@requires(is_signed_in)
def statement_export(entity_id: int) -> Any:
    entity = _load_entity(entity_id)
    period = request.args.get("period") or None
    if period:
        period = _period()
    body = statement_csv(statement(entity, period))
    name = f"dinamis-quota-{entity.id}-{period or 'all'}.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": content_disposition(name)},
    )


@bp.route("/<int:entity_id>/adjust", methods=["POST"])
@requires(can_adjust_quota)
def adjust(entity_id: int) -> Any:
    entity = _load_entity(entity_id)
    form = AdjustmentForm()
    period = form.period.data or service.period_for(dates.today())
    if not form.validate_on_submit():
        return _page(entity, service.period_for(dates.today()), form, 422)
    try:
        service.adjust(
            current_account(),
            entity,
            form.family.data or "",
            period,
            form.amount.data if form.amount.data is not None else Decimal(0),
            form.reason.data or "",
            f"adjustment:{entity.id}:{form.key.data}",
        )
    except ServiceError as error:
        apply_service_error(form, error)
        return _page(entity, period, form, error.status)
    flash(_("Adjustment recorded."), "success")
    return redirect(url_for("quota.entity", entity_id=entity.id, period=period))
