"""Saving a search from the catalogue's map, then a scene arrives: the member's e-mail
(read from the log mail backend) lists it, with its quicklook and an unsubscribe link."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from dinamis.alerts import service
from dinamis.alerts.models import Frequency
from dinamis.catalogue.ingest import Report, load
from dinamis.core.mail import deliver_due
from dinamis.core.transaction import commit
from tests.browser.test_catalogue_journey import _scene, shelves  # noqa: F401 (fixture)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_save_a_search_from_the_map_and_receive_the_email(
    app,
    cast,
    browser,
    live_server,
    shelves,  # noqa: F811
    capsys,
    tmp_path,
):
    context = browser.new_context(base_url=live_server, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.get_by_label("E-mail").fill(cast.user_b)  # an English-speaking member
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/catalogue/")
    area = page.locator("#aoi-map")
    area.wait_for()
    box = area.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((-8, -8), (8, -8), (8, 8), (-8, 8)):
        page.mouse.click(x + dx, y + dy)
    page.get_by_role("button", name="Finish the polygon").click()
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tr[data-scene]").first).to_be_visible()

    page.get_by_role("link", name="Alert me when new scenes match this search").click()
    expect(page.get_by_role("heading", name="Save a search")).to_be_visible()
    expect(page.locator("#aoi")).to_have_value(re.compile('"Polygon"'))  # the drawn area
    page.get_by_label("Name").fill("Massif central")
    page.get_by_label("At once, as soon as they arrive").check()
    page.screenshot(path=str(tmp_path / "save.png"), full_page=True)
    page.get_by_role("button", name="Save the search").click()
    expect(page.get_by_role("heading", name="Massif central")).to_be_visible()
    expect(page.locator("#stac-body")).to_contain_text('"intersects"')
    expect(page.locator("#search-area path.leaflet-interactive")).to_be_visible()
    page.screenshot(path=str(tmp_path / "saved.png"), full_page=True)
    context.close()

    with app.app_context():
        report = Report()
        arrival = _scene("NEW_ARRIVAL", "members-only", 2.8, 46.1, 3)
        # Acquired now ("from now on": older scenes ingested today are not news).
        arrival["properties"]["datetime"] = dt.datetime.now(dt.UTC).isoformat()
        load([("t", arrival)], report)
        assert report.errors == []
        commit()
        # What the `match_alerts` task does, after the ingest's commit.
        assert service.match_new_scenes() == 1
        assert service.prepare(Frequency.AT_ONCE) == 1
        commit()
        deliver_due()
    printed = capsys.readouterr().out
    mail = printed[printed.index(f"--- mail to {cast.user_b}") :]
    assert 'Dinamis: 1 new scene for "Massif central"' in mail
    assert "NEW_ARRIVAL" in mail and "cloud cover 3 %" in mail
    unsubscribe = re.search(r"(/alerts/unsubscribe/\S+)", mail).group(1)

    # One click in the e-mail, one button: the alerts stop.
    page = browser.new_context(base_url=live_server, locale="en-GB").new_page()
    page.goto(unsubscribe)
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="Alerts stopped")).to_be_visible()
