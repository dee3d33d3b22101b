"""/api/v1/reports (users) and /api/v1/stats (staff)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask_babel import gettext as _
from pydantic import Field

from dinamis.api.auth import api_account
from dinamis.api.openapi import (
    PERIOD,
    Answer,
    Id,
    Input,
    Output,
    Text,
    api_user_operation,
    operation,
)
from dinamis.api.serializers import IsoDate
from dinamis.core.columns import values_of
from dinamis.core.errors import Forbidden, ServiceError
from dinamis.extensions import db
from dinamis.orders.models import Order
from dinamis.reports import service, stats
from dinamis.reports.models import ReportStatus, UsageReport
from dinamis.reports.permissions import can_view_statistics, can_write_reports

Year = Annotated[int, Field(ge=1900, le=2200)]


class PublicationIn(Input):
    title: Annotated[str, Text(500, min_length=1)]
    year: Year
    doi: Annotated[str, Text(200)] | None = Field(
        None, description="A DOI (10.xxxx/...) or its https://doi.org/ URL"
    )


class ReportIn(Input):
    order_id: Id | None = Field(None, description="The delivered order reported on")
    year: Year | None = Field(None, description="Or the year of an annual report")
    project: Annotated[str, Text(300)] | None = None
    themes: Annotated[list[Annotated[str, Text(40)]], Field(max_length=50)] | None = Field(
        None, description="Among the configured themes (see the report form)"
    )
    scene_ids: Annotated[list[Annotated[str, Text(200)]], Field(max_length=500)] | None = None
    products: Annotated[str, Text(10_000)] | None = None
    benefit: Annotated[str, Text(10_000)] | None = None
    comments: Annotated[str, Text(10_000)] | None = None
    publications: (
        Annotated[list[PublicationIn], Field(max_length=service.MAX_PUBLICATIONS)] | None
    ) = None
    submit: bool = Field(False, description="true sends the report to staff")


class PublicationOut(Output):
    title: str
    year: int
    doi: str | None
    url: str | None = Field(validation_alias="doi_url")


class ReportOut(Output):
    id: int
    kind: str
    status: Literal[values_of(ReportStatus)]  # type: ignore[valid-type]
    order_id: int | None
    year: int
    due_on: IsoDate
    entity_id: int
    author_id: int | None
    project: str
    themes: list[str]
    scene_ids: list[str]
    products: str
    benefit: str
    comments: str
    publications: list[PublicationOut]
    staff_comment: str | None


class ReportsOut(Output):
    reports: list[ReportOut]


class ReportsQuery(Input):
    status: Literal[values_of(ReportStatus)] | None = None  # type: ignore[valid-type]


class StatsQuery(Input):
    period: PERIOD | None = Field(None, description="A year (2026) or a quarter (2026-Q2)")
    group_by: Literal[stats.GROUPS] = "entity"  # type: ignore[valid-type]
    profile: Annotated[str, Text(50)] | None = None
    entity: Id | None = None
    sensor: Annotated[str, Text(30)] | None = None
    family: Annotated[str, Text(20)] | None = None


class Stats(Output):
    period: str
    group_by: str
    ledger: list[dict[str, Any]] = Field(description="km² per group (decimal strings)")
    orders: list[dict[str, Any]] = Field(description="Orders by state")
    downloads: list[dict[str, Any]]
    activity: dict[str, int]


def report_json(report: UsageReport) -> ReportOut:
    return ReportOut.model_validate(report, from_attributes=True)


@api_user_operation(
    "GET /reports", "listReports", answers={200: Answer("Reports", ReportsOut)}, query=ReportsQuery
)
def list_reports(query: ReportsQuery) -> ReportsOut:
    """My usage reports (the entity's for its Referent, all for staff)"""
    return ReportsOut(
        reports=[report_json(r) for r in service.visible(api_account(), query.status)]
    )


def _ensure_can_write() -> None:
    if not can_write_reports(api_account()):
        raise Forbidden(_("Only members of an entity report on their use."))


@api_user_operation(
    "POST /reports",
    "writeReport",
    answers={
        201: Answer("The report", ReportOut),
        409: Answer("Already submitted, or the order is not delivered yet"),
    },
    body=ReportIn,
    idempotent=True,
    guard=lambda: _ensure_can_write(),
)
def create_report(body: ReportIn) -> ReportOut:
    """Write my report on an order (order_id) or a year (year); submit: true sends it"""
    user = api_account()
    if body.order_id is not None:
        order = db.session.get(Order, body.order_id)
        if order is None:
            raise ServiceError(_("There is no such order."), fields={"order_id": _("Unknown.")})
        report = service.start_for_order(user, order)
    elif body.year is not None:
        report = service.start_annual(user, body.year)
    else:
        raise ServiceError(
            _("Give order_id or year."),
            fields={"order_id": _("Or year."), "year": _("Or order_id.")},
        )
    service.save(
        user,
        report,
        service.ReportContent(
            project=body.project or report.project,
            themes=body.themes or list(report.themes),
            scene_ids=body.scene_ids or list(report.scene_ids),
            products=body.products or "",
            benefit=body.benefit or "",
            comments=body.comments or "",
            publications=[(p.title, p.year, p.doi or "") for p in body.publications or ()],
        ),
        submitting=body.submit,
    )
    if body.submit:
        service.submit(user, report)
    return report_json(report)


@operation(
    "GET /stats",
    "getStats",
    access=can_view_statistics,
    answers={200: Answer("Figures (km² and euros as decimal strings)", Stats)},
    query=StatsQuery,
)
def get_stats(query: StatsQuery) -> Stats:
    """Staff statistics: ledger km², orders by state, downloads, activity"""
    filters = stats.parse_filters(query.model_dump(exclude_none=True))

    def plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: (str(v) if hasattr(v, "quantize") else v) for k, v in r.items()} for r in rows]

    return Stats(
        period=filters.period,
        group_by=query.group_by,
        ledger=plain(stats.ledger(filters, query.group_by)),
        orders=plain(stats.orders_by_state(filters)),
        downloads=stats.downloads(filters),
        activity=stats.activity(filters),
    )
