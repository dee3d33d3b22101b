"""Usage reports: drafts, submission, staff review, deadlines and reminders.

A user reports on each of their delivered orders (due some days after the
first delivery) and once a year on their use of the catalogue (due on the
campaign's deadline the next year). A draft can be saved as often as wanted;
a submitted report is read-only until staff send it back with a comment.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from dinamis import config
from dinamis.accounts import service as accounts
from dinamis.accounts.models import User
from dinamis.catalogue.models import Download
from dinamis.core import dates
from dinamis.core.db import utcnow
from dinamis.core.errors import Conflict, Forbidden, NotFound, ServiceError
from dinamis.extensions import db
from dinamis.membership.permissions import visible_to
from dinamis.orders.models import Delivery, Order, Status
from dinamis.reports.models import (
    EDITABLE_STATUSES,
    Publication,
    ReportKind,
    ReportStatus,
    UsageReport,
)
from dinamis.reports.permissions import can_edit_report, can_review_reports

# A DOI is "10." + a registrant code of 4-9 digits (dot-separated parts allowed) + "/" + a suffix.
DOI = re.compile(r"^10\.\d{4,9}(\.\d+)*/\S+$")
REPORTABLE = (Status.PARTIALLY_DELIVERED, Status.DELIVERED, Status.CLOSED)
MAX_PUBLICATIONS = 50


def themes() -> list[str]:
    """The themes a report may name (DINAMIS_REPORT_THEMES)."""
    return list(config.current().themes)


def normalise_doi(raw: str) -> str:
    """A DOI as typed (bare, doi:, or a doi.org link), checked for syntax."""
    value = raw.strip()
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:"):
        if value.lower().startswith(prefix):
            value = value[len(prefix) :]
    if not DOI.match(value):
        raise ServiceError(
            _("%(doi)s is not a DOI (it looks like 10.1234/abcd).", doi=raw.strip()[:100])
        )
    return value


def annual_due(year: int) -> dt.date:
    return dt.date.fromisoformat(f"{year + 1}-{config.current().report_annual_deadline}")


def _first_delivery(order: Order) -> dt.date:
    delivered = [dates.local_day(d.created_at) for d in order.deliveries if d.created_at]
    return min(delivered) if delivered else dates.today()


def _existing_or_new(draft: Callable[[], UsageReport], *where: Any) -> UsageReport:
    """The report that matches `where`, or a new draft made by `draft` (written)."""
    found = db.session.scalar(select(UsageReport).where(*where))
    if found is not None:
        return found
    report = draft()
    db.session.add(report)
    db.session.flush()
    return report


def start_for_order(actor: User, order: Order) -> UsageReport:
    """The report of a delivered order: the existing one, or a new draft by its requester."""
    if order.requester_id != actor.id:
        raise Forbidden(_("Only the person who placed the order reports on it."))
    if order.status not in REPORTABLE:
        raise Conflict(_("An order is reported on once it has been delivered."))

    def draft() -> UsageReport:
        delivered = _first_delivery(order)
        return UsageReport(
            kind=ReportKind.ORDER,
            entity_id=order.entity_id,
            author_id=actor.id,
            order_id=order.id,
            year=delivered.year,
            due_on=delivered + dt.timedelta(days=config.current().report_due_days),
            project=order.project_title,
            themes=[order.theme] if order.theme in config.current().themes else [],
            scene_ids=[d.scene_id for d in order.deliveries if d.scene_id],
        )

    return _existing_or_new(draft, UsageReport.order_id == order.id)


def start_annual(actor: User, year: int, today: dt.date | None = None) -> UsageReport:
    """The yearly report of a past or current year: the existing one, or a new draft."""
    today = today or dates.today()
    if actor.entity_id is None:
        raise Forbidden(_("Only members of an entity report on their use."))
    if year > today.year:
        raise ServiceError(
            _("%(y)d has not happened yet; report on %(now)d or before.", y=year, now=today.year),
            fields={"year": _("Not in the future.")},
        )
    if year < 2000:
        raise ServiceError(_("The year is out of range."), fields={"year": _("From 2000.")})
    return _existing_or_new(
        lambda: UsageReport(
            kind=ReportKind.ANNUAL,
            entity_id=actor.entity_id,
            author_id=actor.id,
            year=year,
            due_on=annual_due(year),
        ),
        UsageReport.kind == ReportKind.ANNUAL,
        UsageReport.author_id == actor.id,
        UsageReport.year == year,
    )


def pickable_scenes(actor: User) -> list[str]:
    """The scenes a user may list as used: delivered for their orders, or downloaded."""
    delivered = db.session.scalars(
        select(Delivery.scene_id)
        .join(Order)
        .where(Order.requester_id == actor.id, Delivery.scene_id.is_not(None))
    )
    downloaded = db.session.scalars(
        select(Download.scene_id).where(Download.user_id == actor.id).distinct()
    )
    return sorted({s for s in delivered if s} | set(downloaded))


@dataclass
class ReportContent:
    project: str = ""
    themes: list[str] = field(default_factory=list)
    scene_ids: list[str] = field(default_factory=list)
    products: str = ""
    benefit: str = ""
    comments: str = ""
    # (title, year, doi or "")
    publications: list[tuple[str, Any, str]] = field(default_factory=list)


def _missing_for_submission(project: str, themes: list[str], benefit: str) -> dict[str, str]:
    errors = {}
    if not project.strip():
        errors["project"] = _("Name the project.")
    if not themes:
        errors["themes"] = _("Choose at least one theme.")
    if not benefit.strip():
        errors["benefit"] = _("Say what the imagery brought to public policy.")
    return errors


def _check_publication(
    index: int, title: Any, year: Any, doi: Any
) -> tuple[Publication | None, dict[str, str]]:
    """One publication: every problem of it at once, under `publications.<i>.<part>`."""
    name = f"publications.{index}"
    errors: dict[str, str] = {}
    shown = str(title or "").strip()[:60]
    if not shown:
        errors[f"{name}.title"] = _("A publication needs its title.")
    year_value: int | None = None
    try:
        year_value = int(year)
    except (TypeError, ValueError):
        errors[f"{name}.year"] = (
            _("The year of %(t)s is not a year.", t=shown) if shown else _("Not a year.")
        )
    else:
        this_year = dates.today().year
        if not 1900 <= year_value <= this_year:
            errors[f"{name}.year"] = _(
                "The year of %(t)s must be between 1900 and %(now)d.", t=shown, now=this_year
            )
    clean_doi = None
    if str(doi or "").strip():
        try:
            clean_doi = normalise_doi(str(doi))
        except ServiceError as exc:
            errors[f"{name}.doi"] = exc.message
    if errors:
        # The whole publication's problems under one key too (its row, the API's clients).
        errors[name] = " ".join(errors.values())
        return None, errors
    assert year_value is not None
    return Publication(title=str(title).strip()[:500], year=year_value, doi=clean_doi), {}


def save(
    actor: User, report: UsageReport, content: ReportContent, *, submitting: bool = False
) -> None:
    """Replace the draft's content; every field checked, nothing kept when one is wrong.

    `submitting`: the content is about to be submitted, so what submitting requires
    (project, themes, benefit) is checked now too, with everything else at once.
    """
    if not can_edit_report(actor, report):
        raise Forbidden(_("Only the author edits a report."))
    if not report.editable:
        raise Conflict(_("A submitted report can no longer be changed."))
    errors: dict[str, str] = {}
    themes = config.current().themes
    unknown = [t for t in content.themes if t not in themes]
    if unknown:
        errors["themes"] = _("Unknown theme: %(t)s.", t=", ".join(unknown)[:100])
    allowed = set(pickable_scenes(actor))
    foreign = [s for s in content.scene_ids if s not in allowed]
    if foreign:
        errors["scene_ids"] = _(
            "%(ids)s: not among your delivered or downloaded scenes.", ids=", ".join(foreign)[:200]
        )
    publications: list[Publication] = []
    for index, (title, year, doi) in enumerate(content.publications[: MAX_PUBLICATIONS + 1]):
        if index >= MAX_PUBLICATIONS:
            errors["publications"] = _("At most %(n)d publications.", n=MAX_PUBLICATIONS)
            break
        publication, problems = _check_publication(index, title, year, doi)
        errors.update(problems)
        if publication is not None:
            publications.append(publication)
    for name, limit in (
        ("project", 300),
        ("products", 10_000),
        ("benefit", 10_000),
        ("comments", 10_000),
    ):
        if len(getattr(content, name) or "") > limit:
            errors[name] = _("At most %(n)d characters.", n=limit)
    if submitting:
        for name, message in _missing_for_submission(
            content.project, [t for t in content.themes if t in themes], content.benefit
        ).items():
            errors.setdefault(name, message)
    if errors:
        raise ServiceError(_("Some fields need your attention."), fields=errors)
    report.project = content.project.strip()
    report.themes = list(dict.fromkeys(content.themes))
    report.scene_ids = list(dict.fromkeys(content.scene_ids))
    report.products = content.products.strip()
    report.benefit = content.benefit.strip()
    report.comments = content.comments.strip()
    report.publications = publications
    db.session.flush()


def save_and_submit(actor: User, report: UsageReport, content: ReportContent) -> None:
    """Save the content and submit the report, or (a field wrong) neither."""
    save(actor, report, content, submitting=True)
    submit(actor, report)


def submit(actor: User, report: UsageReport) -> None:
    """Send the report to staff; it becomes read-only."""
    if not can_edit_report(actor, report):
        raise Forbidden(_("Only the author submits a report."))
    if not report.editable:
        raise Conflict(_("This report was already submitted."))
    errors = _missing_for_submission(report.project, list(report.themes), report.benefit)
    if errors:
        raise ServiceError(_("Some fields need your attention."), fields=errors)
    report.status = ReportStatus.SUBMITTED
    report.submitted_at = utcnow()
    db.session.flush()


def review(actor: User, report: UsageReport, accept: bool, comment: str) -> None:
    """Staff accept a submitted report, or send it back with a comment (then editable)."""
    if not can_review_reports(actor):
        raise Forbidden(_("Only staff review reports."))
    if report.status != ReportStatus.SUBMITTED:
        raise Conflict(_("Only a submitted report can be reviewed."))
    comment = comment.strip()
    if not accept and not comment:
        raise ServiceError(
            _("Say what must be corrected."), fields={"comment": _("Required to send it back.")}
        )
    report.status = ReportStatus.ACCEPTED if accept else ReportStatus.RETURNED
    report.staff_comment = comment or None
    report.reviewer_id = actor.id
    report.reviewed_at = utcnow()
    db.session.flush()
    accounts.mail_user(report.author, "report_reviewed", report=report)


def get(report_id: int) -> UsageReport:
    report = db.session.get(UsageReport, report_id)
    if report is None:
        raise NotFound(_("There is no such report."))
    return report


def visible(actor: User, status: str | None = None) -> list[UsageReport]:
    """My reports; the entity's for its Referent and deputies; all for staff."""
    query = (
        select(UsageReport)
        .options(selectinload(UsageReport.order))
        .order_by(UsageReport.due_on, UsageReport.id)
    )
    query = query.where(visible_to(actor, UsageReport.entity_id, UsageReport.author_id))
    if status == "overdue":
        query = query.where(
            UsageReport.status.in_(EDITABLE_STATUSES), UsageReport.due_on < dates.today()
        )
    elif status:
        query = query.where(UsageReport.status == status)
    return list(db.session.scalars(query.limit(1000)))


def orders_to_report(actor: User) -> list[Order]:
    """The user's delivered orders that have no report yet."""
    return list(
        db.session.scalars(
            select(Order)
            .outerjoin(UsageReport, UsageReport.order_id == Order.id)
            .where(
                Order.requester_id == actor.id,
                Order.status.in_(REPORTABLE),
                UsageReport.id.is_(None),
            )
            .order_by(Order.id)
        )
    )


def overdue_entities(today: dt.date | None = None) -> dict[int, int]:
    """Entity id → how many of its reports are overdue (shown to staff reviewing its orders)."""
    today = today or dates.today()
    rows = db.session.execute(
        select(UsageReport.entity_id, UsageReport.id).where(
            UsageReport.status.in_(EDITABLE_STATUSES), UsageReport.due_on < today
        )
    ).all()
    counts: dict[int, int] = {}
    for entity_id, _id in rows:
        counts[entity_id] = counts.get(entity_id, 0) + 1
    # Delivered orders whose report was never started count too, once due.
    due_days = config.current().report_due_days
    for order in db.session.scalars(
        select(Order)
        .outerjoin(UsageReport, UsageReport.order_id == Order.id)
        .where(Order.status.in_(REPORTABLE), UsageReport.id.is_(None))
    ):
        if _first_delivery(order) + dt.timedelta(days=due_days) < today:
            counts[order.entity_id] = counts.get(order.entity_id, 0) + 1
    return counts


def remind(today: dt.date | None = None) -> int:
    """Mail the authors of reports due within 14 days or overdue (once a week at most)."""
    today = today or dates.today()
    soon = today + dt.timedelta(days=14)
    week_ago = utcnow() - dt.timedelta(days=7)
    reports = db.session.scalars(
        select(UsageReport).where(
            UsageReport.status.in_(EDITABLE_STATUSES),
            UsageReport.due_on <= soon,
            or_(UsageReport.reminded_at.is_(None), UsageReport.reminded_at < week_ago),
        )
    )
    sent = 0
    for report in reports:
        accounts.mail_user(
            report.author, "report_reminder", report=report, overdue=report.due_on < today
        )
        report.reminded_at = utcnow()
        sent += 1
    db.session.flush()
    return sent
