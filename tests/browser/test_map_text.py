"""Scene ids on the map are text, never HTML (they come from ingested data)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from dinamis.catalogue.ingest import Report, load
from dinamis.core.transaction import commit
from tests.browser.test_catalogue_journey import _scene
from tests.catalogue.test_downloads import collection

pytestmark = pytest.mark.browser

HOSTILE = '<img src="x" onerror="window.pwned=1"><b>bold</b>'


def test_a_footprint_tooltip_shows_the_scene_id_as_text(app, page):
    with app.app_context():
        report = Report()
        load(
            [
                ("t", collection("open-data", "open")),
                ("t", _scene(HOSTILE, "open-data", 2.7, 46.05, 5)),
            ],
            report,
        )
        assert report.errors == []
        commit()
    page.goto("/catalogue/")
    footprint = page.locator('.leaflet-overlay-pane path[stroke="#c0392b"]').first
    footprint.hover()
    tooltip = page.locator(".leaflet-tooltip")
    expect(tooltip).to_have_text(HOSTILE)
    assert tooltip.locator("img, b").count() == 0
    assert page.evaluate("() => window.pwned") is None
