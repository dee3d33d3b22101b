"""Usage reports on the web: my reports, the form, staff review."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from dinamis.accounts.forms import PostForm
from dinamis.api.openapi import INT_MAX
from dinamis.core import dates
from dinamis.core.columns import values_of
from dinamis.core.errors import ServiceError
from dinamis.core.exports import content_disposition
from dinamis.core.idempotency import EXPIRED
from dinamis.core.loading import get_or_404
from dinamis.core.pdf import pdf_response
from dinamis.core.permissions import current_account, ensure, requires
from dinamis.core.validation import digits
from dinamis.core.web import hold_form, show_earlier, status_page
from dinamis.extensions import db
from dinamis.membership.models import Entity, Profile
from dinamis.orders.models import Order, Sensor
from dinamis.quota.models import Family
from dinamis.reports import documents, service, stats, yearly
from dinamis.reports.forms import ReportForm, ReviewForm, StartForm
from dinamis.reports.models import PDF_STATUS_WORDS, ReportStatus, UsageReport, YearlyPdfStatus
from dinamis.reports.permissions import (
    can_edit_report,
    can_review_reports,
    can_view_own_entity_usage,
    can_view_report,
    can_view_reports,
    can_view_statistics,
    can_write_reports,
)

bp = Blueprint("reports", __name__, url_prefix="/reports")
BLANK_PUBLICATIONS = 3
CHART_BARS = 20  # the dashboard's chart: the largest groups, the others summed in one bar


@bp.route("/")
@requires(can_view_reports)
def index() -> Any:
    user = current_account()
    writer = can_write_reports(user)
    return status_page(
        "reports/index.html",
        values_of(ReportStatus),
        partial(service.visible, user),
        ("overdue",),
        to_report=service.orders_to_report(user) if writer else [],
        may_write=writer,
        last_year=dates.today().year - 1,
        today=dates.today(),
    )


@bp.route("/start", methods=["POST"])
@requires(can_write_reports)
def start() -> Any:
    user = current_account()
    form = StartForm()
    if not form.validate_on_submit():
        abort(400)
    order_id = (form.order_id.data or "").strip()
    if order_id:
        if not digits(order_id):
            abort(400)
        order = db.session.get(Order, int(order_id)) if int(order_id) <= INT_MAX else None
        if order is None:
            abort(404)
        report = service.start_for_order(user, order)
    else:
        year = (form.year.data or "").strip()
        if not digits(year) or len(year) > 4:
            raise ServiceError(_("Give the year to report on."), fields={"year": _("A year.")})
        report = service.start_annual(user, int(year))
    return redirect(url_for("reports.show", report_id=report.id))


def _values(report: UsageReport) -> service.ReportContent:
    return service.ReportContent(
        project=report.project,
        themes=list(report.themes),
        scene_ids=list(report.scene_ids),
        products=report.products,
        benefit=report.benefit,
        comments=report.comments,
        publications=[(p.title, p.year, p.doi or "") for p in report.publications],
    )


def _page(
    report: UsageReport,
    form: ReportForm | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Any:
    """The report; when a save was refused, the form keeps what the person typed."""
    editing = report.editable and can_edit_report(current_user, report)
    form = form or ReportForm(formdata=None)
    return (
        render_template(
            "reports/show.html",
            report=report,
            values=form.content() if form.is_submitted() else _values(report),
            editing=editing,
            themes=service.themes(),
            scenes=service.pickable_scenes(report.author) if editing else report.scene_ids,
            errors=errors or {},
            blank=BLANK_PUBLICATIONS,
            may_review=can_review_reports(current_user) and report.status == ReportStatus.SUBMITTED,
            overdue=report.overdue_on(dates.today()),
            order=report.order,
            once=form.once.data,
        ),
        status,
    )


@bp.route("/<int:report_id>", methods=["GET", "POST"])
@requires(can_view_reports)
def show(report_id: int) -> Any:
    user = current_account()
    report = service.get(report_id)
    ensure(can_view_report(user, report))
    if request.method == "GET":
        return _page(report)
    form = ReportForm()
    if not form.validate_on_submit():  # only the CSRF token is checked here
        flash(str(EXPIRED), "error")
        return _page(report, form, status=400)
    try:
        if form.submitting:  # a draft is saved as often as one likes; it is submitted once
            claim = hold_form(form, "reports.submit", user)
            if claim.earlier is not None:
                return show_earlier(claim.earlier, "reports.index")
            service.save_and_submit(user, report, form.content())
            claim.record(_report_label(report), url_for("reports.show", report_id=report.id))
            flash(_("Your report was submitted to the Dinamis team."), "success")
        else:
            service.save(user, report, form.content())
            flash(_("Draft saved."), "success")
    except ServiceError as error:
        # Nothing was changed (the service checks everything first); the request's
        # error status rolls back what the claim wrote.
        flash(error.message, "error")
        return _page(report, form, error.fields, error.status)
    return redirect(url_for("reports.show", report_id=report.id))


def _report_label(report: UsageReport) -> str:
    return report.order.number if report.order is not None else str(report.year)


@bp.route("/<int:report_id>/review", methods=["POST"])
@requires(can_review_reports)
def review(report_id: int) -> Any:
    user = current_account()
    report = service.get(report_id)
    form = ReviewForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.review(user, report, form.accept, form.comment.data or "")
    except ServiceError as error:
        flash(error.message, "error")
        return _page(report, errors=error.fields, status=error.status)
    flash(_("Report accepted.") if form.accept else _("Report sent back to its author."), "success")
    return redirect(url_for("reports.index", status="submitted"))


def _stats(args: Mapping[str, str]) -> tuple[stats.Filters, str, dict[str, Any]]:
    filters = stats.parse_filters(args)
    group = args.get("group_by") or "entity"
    # stats.ledger refuses an unknown grouping (400).
    tables = {
        "ledger": stats.ledger(filters, group),
        "orders": stats.orders_by_state(filters),
        "downloads": stats.downloads(filters),
        "activity": [stats.activity(filters)],
    }
    return filters, group, tables


@bp.route("/stats")
@requires(can_view_statistics)
def dashboard() -> Any:
    filters, group, tables = _stats(request.args)
    tables["downloads"] = stats.with_titles(tables["downloads"])
    tables["ledger"] = stats.with_profile_names(tables["ledger"], group)
    return render_template(
        "reports/stats.html",
        filters=filters,
        group=group,
        groups=stats.GROUPS,
        tables=tables,
        activity=tables["activity"][0],
        consumed_chart=stats.bars(tables["ledger"], "group", "consumed_km2", top=CHART_BARS),
        downloads_chart=stats.bars(tables["downloads"], "title", "downloads"),
        profiles=list(db.session.scalars(select(Profile).order_by(Profile.code))),
        # Only what the <select> shows: 1,000 rows, not 1,000 ORM objects.
        entities=db.session.execute(select(Entity.id, Entity.name).order_by(Entity.name)).all(),
        sensors=values_of(Sensor),
        families=values_of(Family),
        args=request.args,
    )


@bp.route("/stats/<any(ledger, orders, downloads, activity):table>.csv")
@requires(can_view_statistics)
def dashboard_csv(table: str) -> Any:
    filters, group, tables = _stats(request.args)
    name = f"dinamis-{table}-{filters.period}-{group}.csv"
    return Response(
        stats.to_csv(tables[table]),
        mimetype="text/csv",
        headers={"Content-Disposition": content_disposition(name)},
    )


def _entity_arg() -> int | None:
    value = request.args.get("entity") or request.form.get("entity") or ""
    if not value:
        return None
    if not digits(value) or int(value) > INT_MAX:
        abort(404)
    return int(value)


def _ready_or_page(year: int, entity_id: int | None) -> Any:
    """The newest ready PDF of the year, else its page (nothing is made in a request)."""
    user = current_account()
    ensure(documents.can_ask(user, entity_id))
    yearly.check_year(year)
    found = documents.ready(user, year, entity_id)
    if found is not None:
        return redirect(url_for("reports.yearly_document", document_id=found.id))
    flash(_("This yearly report has not been made yet: make it here."), "info")
    return redirect(url_for("reports.yearly_page", year=year, entity=entity_id))


@bp.route("/yearly/<int:year>.pdf")
@requires(can_view_statistics)
def programme_pdf(year: int) -> Any:
    return _ready_or_page(year, None)


@bp.route("/yearly/<int:year>/entities/<int:entity_id>.pdf")
@requires(can_view_reports)
def entity_pdf(year: int, entity_id: int) -> Any:
    entity = get_or_404(Entity, entity_id)
    return _ready_or_page(year, entity.id)


@bp.route("/yearly/<int:year>")
@requires(can_view_reports)
def yearly_page(year: int) -> Any:
    """A year's PDF report (the programme's, or an entity's): its documents, made by a
    worker on demand, followed here until ready."""
    user = current_account()
    entity_id = _entity_arg()
    entity = get_or_404(Entity, entity_id) if entity_id is not None else None
    ensure(documents.can_ask(user, entity_id))
    yearly.check_year(year)
    found = documents.documents(user, year, entity_id)
    return render_template(
        "reports/yearly.html",
        year=year,
        entity=entity,
        found=found,
        pending=any(d.status in ("queued", "running") and not documents.stale(d) for d in found),
        stale={d.id for d in found if documents.stale(d)},
        steps=documents.STEPS,
        words=PDF_STATUS_WORDS,
        staff=can_view_statistics(user),
        form=PostForm(formdata=None),
    )


@bp.route("/yearly/<int:year>/make", methods=["POST"])
@requires(can_view_reports)
def make_yearly(year: int) -> Any:
    user = current_account()
    entity_id = _entity_arg()
    ensure(documents.can_ask(user, entity_id))
    if not PostForm().validate_on_submit():
        abort(400)
    document = documents.ask(user, year, entity_id)
    flash(_("The PDF is being made by a worker: this page follows it."), "success")
    return redirect(url_for("reports.yearly_page", year=document.year, entity=entity_id))


@bp.route("/yearly/documents/<int:document_id>.pdf")
@requires(can_view_reports)
def yearly_document(document_id: int) -> Any:
    user = current_account()
    found = documents.get(document_id)
    ensure(documents.can_view(user, found))
    if found.status != YearlyPdfStatus.READY or found.content is None:
        abort(404)
    return pdf_response(found.content, found.file_name)


@bp.route("/entity")
@requires(can_view_own_entity_usage)
def entity_usage() -> Any:
    """The Referent's view of their entity: the same figures as staff see, for one entity."""
    user = current_account()
    entity = db.session.get(Entity, user.entity_id)
    if entity is None:  # the permission requires an entity; kept for the type checker
        abort(404)
    filters = stats.parse_filters(request.args)
    filters = stats.Filters(period=filters.period, entity_id=entity.id)
    ledger = stats.ledger(filters, "family")
    return render_template(
        "reports/entity.html",
        entity=entity,
        filters=filters,
        ledger=ledger,
        consumed_chart=stats.bars(ledger, "group", "consumed_km2"),
        downloads=stats.with_titles(stats.downloads(filters)),
        orders=stats.orders_by_state(filters),
        reports=service.visible(user),
        today=dates.today(),
    )
