"""/api/v1/reports (users) and /api/v1/stats (staff)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_babel import gettext as _

from dinamis.accounts.permissions import can_use_api
from dinamis.api import idempotency, openapi
from dinamis.api.auth import api_user
from dinamis.api.views import bp, json_body
from dinamis.core.errors import Forbidden, ServiceError
from dinamis.core.permissions import requires
from dinamis.extensions import db
from dinamis.orders.models import Order
from dinamis.reports import service, stats
from dinamis.reports.models import UsageReport
from dinamis.reports.permissions import can_view_statistics, can_write_reports


def report_json(report: UsageReport) -> dict[str, Any]:
    return {
        "id": report.id,
        "kind": report.kind,
        "status": report.status,
        "order_id": report.order_id,
        "year": report.year,
        "due_on": report.due_on.isoformat(),
        "entity_id": report.entity_id,
        "author_id": report.author_id,
        "project": report.project,
        "themes": list(report.themes),
        "scene_ids": list(report.scene_ids),
        "products": report.products,
        "benefit": report.benefit,
        "comments": report.comments,
        "publications": [
            {"title": p.title, "year": p.year, "doi": p.doi, "url": p.doi_url}
            for p in report.publications
        ],
        "staff_comment": report.staff_comment,
    }


@bp.route("/reports")
@requires(can_use_api, api=True)
def list_reports() -> Any:
    status = request.args.get("status") or None
    return jsonify({"reports": [report_json(r) for r in service.visible(api_user(), status)]})


def _list(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ServiceError(_("%(n)s must be a list of texts.", n=name), fields={name: _("A list.")})
    return value


@bp.route("/reports", methods=["POST"])
@requires(can_use_api, api=True)
def create_report() -> Any:
    """Write (or update) the caller's report on an order or a year, and submit it if asked."""
    user = api_user()
    if not can_write_reports(user):
        raise Forbidden(_("Only members of an entity report on their use."))
    data = json_body()
    claimed = idempotency.claim(user, data)
    if isinstance(claimed, Response):  # the same request again: its first answer
        return claimed
    if data.get("order_id") is not None:
        order = (
            db.session.get(Order, data["order_id"]) if isinstance(data["order_id"], int) else None
        )
        if order is None:
            raise ServiceError(_("There is no such order."), fields={"order_id": _("Unknown.")})
        report = service.start_for_order(user, order)
    elif isinstance(data.get("year"), int):
        report = service.start_annual(user, data["year"])
    else:
        raise ServiceError(
            _("Give order_id or year."),
            fields={"order_id": _("Or year."), "year": _("Or order_id.")},
        )
    publications = data.get("publications") or []
    if not isinstance(publications, list) or not all(isinstance(p, dict) for p in publications):
        raise ServiceError(
            _("publications must be a list of objects."), fields={"publications": _("A list.")}
        )
    for name in ("project", "products", "benefit", "comments"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise ServiceError(_("%(n)s must be text.", n=name), fields={name: _("Must be text.")})
    service.save(
        user,
        report,
        service.ReportContent(
            project=data.get("project") or report.project,
            themes=_list(data, "themes") or list(report.themes),
            scene_ids=_list(data, "scene_ids") or list(report.scene_ids),
            products=data.get("products") or "",
            benefit=data.get("benefit") or "",
            comments=data.get("comments") or "",
            publications=[
                (str(p.get("title") or ""), p.get("year"), str(p.get("doi") or ""))
                for p in publications
            ],
        ),
        submitting=data.get("submit") is True,
    )
    if data.get("submit") is True:
        service.submit(user, report)
    return idempotency.answer(claimed, report_json(report), 201)


@bp.route("/stats")
@requires(can_view_statistics, api=True)
def get_stats() -> Any:
    filters = stats.parse_filters(request.args)
    group = request.args.get("group_by") or "entity"
    # stats.ledger refuses an unknown grouping (400).

    def plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: (str(v) if hasattr(v, "quantize") else v) for k, v in r.items()} for r in rows]

    return jsonify(
        {
            "period": filters.period,
            "group_by": group,
            "ledger": plain(stats.ledger(filters, group)),
            "orders": plain(stats.orders_by_state(filters)),
            "downloads": stats.downloads(filters),
            "activity": stats.activity(filters),
        }
    )


openapi.document(
    "/reports",
    "get",
    {
        "summary": "My usage reports (the entity's for its Referent, all for staff)",
        "operationId": "listReports",
        "responses": {"200": {"description": "Reports"}},
    },
)
openapi.document(
    "/reports",
    "post",
    {
        "summary": "Write my report on an order (order_id) or a year (year); submit: true sends it",
        "operationId": "writeReport",
        "responses": {
            "201": {"description": "The report"},
            "409": openapi.error_response("Already submitted"),
            "422": openapi.error_response("Refused, with a message per field"),
        },
    },
)
openapi.document(
    "/stats",
    "get",
    {
        "summary": "Staff statistics: ledger km², orders by state, downloads, activity",
        "operationId": "getStats",
        "parameters": [
            {"name": "period", "in": "query", "schema": {"type": "string", "example": "2026"}},
            {"name": "group_by", "in": "query", "schema": {"enum": list(stats.GROUPS)}},
            {"name": "profile", "in": "query", "schema": {"type": "string"}},
            {"name": "entity", "in": "query", "schema": {"type": "integer"}},
            {"name": "sensor", "in": "query", "schema": {"type": "string"}},
            {"name": "family", "in": "query", "schema": {"type": "string"}},
        ],
        "responses": {"200": {"description": "Figures (km² and euros as decimal strings)"}},
    },
)
