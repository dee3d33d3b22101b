"""Yearly PDFs made on the job queue: asked for on a page, made by the job, then served.

The job's body (`documents.make`) runs here in-process, as a worker runs it;
tests/jobs/test_worker.py runs it in a real worker process.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from dinamis.accounts import service as accounts
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.reports import documents
from dinamis.reports.models import YearlyPdf
from tests.conftest import login
from tests.helpers import csrf_token
from tests.reports.test_statistics import YEAR, _pdf_text, busy  # noqa: F401 - the fixture
from tests.reports.test_usage_reports import delivered  # noqa: F401 - the fixture


def _jobs():
    return db.session.execute(
        text("SELECT id, args FROM procrastinate_jobs WHERE task_name = 'yearly_pdf' ORDER BY id")
    ).all()


def _documents(app):
    with app.app_context():
        found = list(db.session.scalars(select(YearlyPdf).order_by(YearlyPdf.id)))
        db.session.expunge_all()
        return found


def _make_all(app):
    """What a worker does with every job waiting."""
    with app.app_context():
        waiting = [(j.id, j.args["document_id"]) for j in _jobs()]
        commit()
        for job_id, document_id in waiting:
            documents.make(document_id, job_id)


def test_the_programmes_pdf_is_made_by_the_job_then_served(app, client, cast, busy):  # noqa: F811
    login(client, cast.staff)
    early = client.get(f"/reports/yearly/{YEAR}.pdf")  # nothing is made in a request
    assert early.status_code == 302 and early.headers["Location"].endswith(
        f"/reports/yearly/{YEAR}"
    )
    page = client.get(f"/reports/yearly/{YEAR}").get_data(as_text=True)
    assert "Aucun pour l'instant." in page and 'http-equiv="refresh"' not in page
    token = csrf_token(client, f"/reports/yearly/{YEAR}")
    asked = client.post(f"/reports/yearly/{YEAR}/make", data={"csrf_token": token})
    assert asked.status_code == 302
    again = client.post(f"/reports/yearly/{YEAR}/make", data={"csrf_token": token})
    assert again.status_code == 302
    (document,) = _documents(app)  # asked twice while waiting: one document, one job
    assert document.status == "queued" and document.entity_id is None and document.language == "fr"
    with app.app_context():
        assert [j.args for j in _jobs()] == [{"document_id": document.id}]
        commit()
    page = client.get(f"/reports/yearly/{YEAR}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "en file d'attente" in page
    _make_all(app)
    (document,) = _documents(app)
    assert document.status == "ready" and document.progress == 100 and document.attempts == 1
    page = client.get(f"/reports/yearly/{YEAR}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and f"dinamis-{YEAR}.pdf" in page
    served = client.get(f"/reports/yearly/documents/{document.id}.pdf")
    assert served.mimetype == "application/pdf"
    text_ = _pdf_text(served.data)
    assert "Laboratoire A" in text_ and "Agence B" in text_
    bookmarked = client.get(f"/reports/yearly/{YEAR}.pdf")  # the old address: the newest file
    assert bookmarked.headers["Location"].endswith(f"/reports/yearly/documents/{document.id}.pdf")
    assert client.get("/reports/yearly/1999").status_code == 400
    assert client.post("/reports/yearly/1999/make", data={"csrf_token": token}).status_code == 400


def test_an_entitys_pdf_for_its_referent_only(app, client, cast, busy):  # noqa: F811
    login(client, cast.referent_a)
    mine = f"/reports/yearly/{YEAR}?entity={cast.entity_a}"
    token = csrf_token(client, mine)
    asked = client.post(
        f"/reports/yearly/{YEAR}/make", data={"csrf_token": token, "entity": cast.entity_a}
    )
    assert asked.status_code == 302 and asked.headers["Location"].endswith(mine)
    _make_all(app)
    (document,) = _documents(app)
    assert document.entity_id == cast.entity_a and document.status == "ready"
    served = client.get(f"/reports/yearly/documents/{document.id}.pdf")
    text_ = _pdf_text(served.data)
    assert "Laboratoire A" in text_ and "user.a@labo-a.test" in text_ and "T-0" in text_
    other = f"/reports/yearly/{YEAR}?entity={cast.entity_b}"
    assert client.get(other).status_code == 403
    refused = client.post(
        f"/reports/yearly/{YEAR}/make", data={"csrf_token": token, "entity": cast.entity_b}
    )
    assert refused.status_code == 403
    assert client.get(f"/reports/yearly/{YEAR}").status_code == 403  # the programme's: staff
    outsider = app.test_client()
    login(outsider, cast.referent_b)
    assert outsider.get(f"/reports/yearly/documents/{document.id}.pdf").status_code == 403


def test_progress_is_reported_by_stage_and_shown(app, client, cast, busy):  # noqa: F811
    with app.app_context():
        staff = accounts.get_user_by_email(cast.staff)
        document = documents.ask(staff, int(YEAR))
        started = documents.start(document.id, None)
        assert started is not None and started.attempt == 1
        seen: list[tuple[int, str]] = []

        def report(percent: int, step: str) -> None:
            seen.append((percent, step))
            documents.progress(document.id, percent, step)

        content = documents.render(started, report)
        assert [s for _, s in seen] == ["figures", "map", "layout"]
        assert [p for p, _ in seen] == sorted(p for p, _ in seen)
        assert content[:5] == b"%PDF-"
        db.session.refresh(document)
        assert document.status == "running" and document.progress == 50
        assert document.step == "layout"
        commit()
    login(client, cast.staff)
    page = client.get(f"/reports/yearly/{YEAR}").get_data(as_text=True)
    assert "50 %" in page and "mise en page" in page and 'http-equiv="refresh"' in page


def test_a_failing_attempt_is_retried_then_failed_with_the_error(
    app,
    cast,
    busy,  # noqa: F811
    monkeypatch,
):
    def broken(started, report):
        report(5, "figures")
        raise RuntimeError("the printer is on fire")

    monkeypatch.setattr(documents, "render", broken)
    with app.app_context():
        staff = accounts.get_user_by_email(cast.staff)
        document = documents.ask(staff, int(YEAR))
        commit()
        for attempt in range(1, documents.MAX_ATTEMPTS + 1):
            last = attempt == documents.MAX_ATTEMPTS
            with pytest.raises(RuntimeError if last else documents.AttemptFailed):
                documents.make(document.id, None)
            db.session.refresh(document)
            assert document.attempts == attempt
            assert document.status == ("failed" if last else "queued")
            assert "the printer is on fire" in (document.error or "")
        assert documents.make(document.id, None) == "nothing to do"
        again = documents.ask(staff, int(YEAR))  # a failed one: a new document is asked for
        assert again.id != document.id and again.status == "queued"
        commit()


def test_a_layout_past_its_time_limit_is_stopped_and_the_attempt_failed(
    app,
    cast,
    busy,  # noqa: F811
    monkeypatch,
):
    """The layout runs in a child process killed at yearly.LAYOUT_SECONDS: the worker is
    free again and the document says why (here a limit no layout can meet)."""
    from dinamis.reports import yearly

    monkeypatch.setattr(yearly, "LAYOUT_SECONDS", 0.01)
    with app.app_context():
        staff = accounts.get_user_by_email(cast.staff)
        document = documents.ask(staff, int(YEAR))
        commit()
        with pytest.raises(documents.AttemptFailed):
            documents.make(document.id, None)
        db.session.refresh(document)
        assert document.status == "queued" and document.attempts == 1
        stopped = {
            "en": "Laying out the PDF took longer than 0 s: it was stopped.",
            "fr": "La mise en page du PDF a duré plus de 0 s : elle a été arrêtée.",
        }[document.language]
        assert f"LayoutTooLong: {stopped}" in (document.error or "")
