"""A usage report sent back then accepted; the dashboard, a CSV and a yearly PDF, in Chromium."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlalchemy import select

from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.reports import documents
from dinamis.reports.models import YearlyPdf
from tests.browser.test_order_journey import _signed_in
from tests.reports.test_usage_reports import delivered  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser


def test_report_review_and_statistics(app, cast, browser, live_server, delivered, tmp_path):  # noqa: F811
    context, page = _signed_in(browser, live_server, cast.user_a)
    page.goto("/reports/")
    page.get_by_role("button", name="Write the report").click()
    page.get_by_label("Project").fill("Coastal erosion watch")
    page.get_by_label("coast").check()
    page.get_by_label("DELIV_1").check()
    page.get_by_label("Title").first.fill("Dune retreat in Aquitaine")
    page.get_by_label("Year").first.fill("2026")
    page.get_by_label("DOI").first.fill("10.1234/dunes.2026")
    page.get_by_label("Benefit for public policy").fill("Used by the regional erosion plan.")
    page.get_by_role("button", name="Submit the report").click()
    expect(page.get_by_text("Your report was submitted")).to_be_visible()
    report_url = page.url
    assert page.locator('a[href="https://doi.org/10.1234/dunes.2026"]').count() == 1

    staff_context, staff = _signed_in(browser, live_server, cast.staff)
    staff.goto(report_url)
    staff.get_by_label("Comment").fill("Please list the maps you produced.")
    staff.get_by_role("button", name="Send it back").click()
    expect(staff.get_by_text("Report sent back to its author")).to_be_visible()

    page.goto(report_url)
    expect(page.get_by_text("Please list the maps you produced.")).to_be_visible()
    page.get_by_label("Products made (maps, models, datasets)").fill("Erosion maps 1:5000")
    page.get_by_role("button", name="Submit the report").click()
    expect(page.get_by_text("Your report was submitted")).to_be_visible()
    context.close()

    staff.goto(report_url)
    staff.get_by_role("button", name="Accept the report").click()
    expect(staff.get_by_text("Report accepted")).to_be_visible()

    # The dashboard, filtered by profile; a CSV export; an entity's yearly PDF.
    year = scheme_today().year
    staff.goto(f"/reports/stats?period={year}")
    staff.get_by_label("Profile").select_option("research-fr")
    staff.get_by_role("button", name="Apply").click()
    ledger = staff.locator("#ledger").inner_text()
    assert "Laboratoire A" in ledger and "Agence B" not in ledger
    with staff.expect_download() as caught:
        staff.locator("#ledger").get_by_role("link", name="CSV").click()
    caught.value.save_as(tmp_path / "ledger.csv")
    exported = (tmp_path / "ledger.csv").read_text()
    assert exported.startswith("group,granted_km2") and "Laboratoire A" in exported
    staff.get_by_label("Entity").select_option(label="Laboratoire A")
    staff.get_by_role("button", name="Apply").click()
    staff.get_by_role("link", name="This entity's yearly report (PDF)").click()
    staff.get_by_role("button", name="Make the PDF now").click()
    expect(staff.get_by_text("The PDF is being made by a worker")).to_be_visible()
    expect(staff.locator("#yearly-table")).to_contain_text("queued")
    yearly_page = staff.url
    # The worker makes it, its steps taken here (the live server shares the test's
    # transaction, which a worker process cannot see; the real worker: tests/jobs). The
    # page, which refreshes itself while it waits, is left meanwhile.
    staff.goto("/reports/")
    with app.app_context():
        (document,) = db.session.scalars(select(YearlyPdf)).all()
        documents.make(document.id, document.job_id)
        commit()
    staff.goto(yearly_page)
    expect(staff.locator("#yearly-table")).to_contain_text("ready")
    link = staff.locator("#yearly-table").get_by_role("link", name=re.compile(r"\.pdf$"))
    response = staff.request.get(link.get_attribute("href"))
    assert response.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.body())).pages)
    assert "Laboratoire A" in text and "Dune retreat in Aquitaine" in text
    assert "10.1234/dunes.2026" in text
    staff_context.close()
