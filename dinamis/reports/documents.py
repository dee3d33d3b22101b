"""Yearly PDF reports made on the job queue: asked for, made by a worker, followed, served.

Making the programme's yearly PDF takes from seconds to minutes (figures, the
map of every delivered footprint, the layout): never in a request. Staff (or an
entity's Referent, for their entity) ask for one (`ask`: the job `yearly_pdf`
is queued in the same transaction); a worker makes it (`make`), each step in a
short transaction of its own: `start`, the progress of each stage, then the
file kept in the database (`finish`) or the failure (`fail`: retried up to
MAX_ATTEMPTS, then failed with the error for staff). The page follows it; the
file is served once ready.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text

from dinamis.accounts.models import User
from dinamis.core.db import utcnow
from dinamis.core.errors import Forbidden, NotFound
from dinamis.core.transaction import rollback, transaction
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.reports import yearly
from dinamis.reports.models import YearlyPdf, YearlyPdfStatus
from dinamis.reports.permissions import can_view_entity_usage, can_view_statistics

TASK = "yearly_pdf"
MAX_ATTEMPTS = 3
# A document still "running" after this long was left by a worker that died: a new one
# may be asked for (a layout is stopped after yearly.LAYOUT_SECONDS).
STALE_AFTER = dt.timedelta(minutes=30)
S = YearlyPdfStatus
# The stages a worker reports, in the reader's words.
STEPS = {
    "figures": _l("gathering the figures"),
    "map": _l("drawing the map of deliveries"),
    "layout": _l("laying out the pages"),
}


def can_ask(user: User, entity_id: int | None) -> bool:
    """The programme's PDF for staff; an entity's for staff and its Referent (as before,
    when it was made in the request)."""
    if entity_id is None:
        return can_view_statistics(user)
    return can_view_entity_usage(user, entity_id)


def can_view(user: User, document: YearlyPdf) -> bool:
    return can_ask(user, document.entity_id)


def stale(document: YearlyPdf, now: dt.datetime | None = None) -> bool:
    """Queued or running for longer than STALE_AFTER: its worker stopped."""
    return (
        document.status in (S.QUEUED, S.RUNNING)
        and (now or utcnow()) - (document.started_at or document.created_at) > STALE_AFTER
    )


def _newest(year: int, entity_id: int | None, limit: int) -> list[YearlyPdf]:
    same_entity = (
        YearlyPdf.entity_id.is_(None) if entity_id is None else YearlyPdf.entity_id == entity_id
    )
    return list(
        db.session.scalars(
            select(YearlyPdf)
            .where(YearlyPdf.year == year, same_entity)
            .order_by(YearlyPdf.id.desc())
            .limit(limit)
        )
    )


def documents(actor: User, year: int, entity_id: int | None = None) -> list[YearlyPdf]:
    """The newest documents of this year (and entity), newest first."""
    if not can_ask(actor, entity_id):
        raise Forbidden(_("You may not see this yearly report."))
    return _newest(year, entity_id, 5)


def ready(actor: User, year: int, entity_id: int | None = None) -> YearlyPdf | None:
    """The newest ready document of this year (and entity), if any."""
    found = [d for d in documents(actor, year, entity_id) if d.status == S.READY]
    return found[0] if found else None


def ask(actor: User, year: int, entity_id: int | None = None) -> YearlyPdf:
    """Queue the making of a yearly PDF (in this transaction). One already waiting or being
    made for the same year and entity is given back instead of a second."""
    if not can_ask(actor, entity_id):
        raise Forbidden(_("You may not see this yearly report."))
    yearly.check_year(year)
    if entity_id is not None and db.session.get(Entity, entity_id) is None:
        raise NotFound(_("There is no entity %(id)s.", id=entity_id))
    db.session.execute(  # one asker at a time per year and entity: no twin documents
        text("SELECT pg_advisory_xact_lock(hashtext('yearly_pdf'), :key)"),
        {"key": year * 1_000_000 + (entity_id or 0)},
    )
    for pending in _newest(year, entity_id, 1):
        if pending.status in (S.QUEUED, S.RUNNING) and not stale(pending):
            return pending
    from dinamis.jobs.queue import defer

    document = YearlyPdf(
        year=year,
        entity_id=entity_id,
        requested_by_id=actor.id,
        language=actor.language or "fr",
        status=S.QUEUED,
        progress=0,
        attempts=0,
    )
    db.session.add(document)
    db.session.flush()
    document.job_id = defer(TASK, document_id=document.id)
    return document


def get(document_id: int) -> YearlyPdf:
    document = db.session.get(YearlyPdf, document_id) if 0 < document_id < 2**31 else None
    if document is None:
        raise NotFound(_("There is no yearly report %(id)s.", id=document_id))
    return document


# --- the worker's steps -------------------------------------------------------------------


def _locked(document_id: int) -> YearlyPdf | None:
    return db.session.scalar(
        select(YearlyPdf)
        .where(YearlyPdf.id == document_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


@dataclass(frozen=True)
class Started:
    """What the worker needs to make the document, read in the transaction that started it."""

    document_id: int
    year: int
    entity_id: int | None
    language: str
    attempt: int


def start(document_id: int, job_id: int | None) -> Started | None:
    """The worker takes the document (an attempt counted); None when there is nothing to do."""
    document = _locked(document_id)
    if document is None or document.status not in (S.QUEUED, S.RUNNING):
        return None
    document.status = S.RUNNING
    document.attempts += 1
    document.job_id = job_id or document.job_id
    document.started_at = utcnow()
    document.progress, document.step = 1, None
    return Started(
        document.id, document.year, document.entity_id, document.language, document.attempts
    )


def progress(document_id: int, percent: int, step: str) -> None:
    db.session.execute(
        text(
            "UPDATE yearly_pdfs SET progress = :p, step = :s "
            "WHERE id = :id AND status = 'running' AND progress <= :p"
        ),
        {"p": max(0, min(99, int(percent))), "s": step[:20], "id": document_id},
    )


def finish(document_id: int, content: bytes) -> None:
    document = _locked(document_id)
    if document is None or document.status != S.RUNNING:
        return
    document.content, document.size = content, len(content)
    document.status, document.progress, document.step = S.READY, 100, None
    document.error = None
    document.finished_at = utcnow()


def fail(document_id: int, error: str) -> bool:
    """An attempt failed: queued again while attempts are left (True), else failed."""
    document = _locked(document_id)
    if document is None or document.status != S.RUNNING:
        return False
    document.error = error[:20_000]
    if document.attempts < MAX_ATTEMPTS:
        document.status, document.progress, document.step = S.QUEUED, 0, None
        return True
    document.status = S.FAILED
    document.finished_at = utcnow()
    return False


def render(started: Started, report: Callable[[int, str], None]) -> bytes:
    """The PDF itself, in the asker's language."""
    with force_locale(started.language):
        if started.entity_id is None:
            return yearly.programme_pdf(started.year, report)
        entity = db.session.get_one(Entity, started.entity_id)
        return yearly.entity_pdf(entity, started.year, report)


class AttemptFailed(Exception):
    """An attempt failed with attempts left: the job is retried."""


def make(document_id: int, job_id: int | None) -> str:
    """The job's body: start, render with progress, then the file or the failure."""
    from dinamis.jobs.queue import error_text

    with transaction():
        started = start(document_id, job_id)
    if started is None:
        return "nothing to do"

    def report(percent: int, step: str) -> None:
        with transaction():
            progress(document_id, percent, step)

    try:
        content = render(started, report)
        with transaction():
            finish(document_id, content)
    except Exception as exc:
        rollback()
        with transaction():
            again = fail(document_id, error_text(exc))
        if again:
            raise AttemptFailed(str(exc)) from exc
        raise
    return f"{len(content)} bytes"
