"""A tasking request with its area drawn on the map, in a real browser."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.quota import service as quota
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_draw_the_area_and_submit(app, cast, browser, live_server):
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "tasking", quota.period_for(dt.date.today()), Decimal("10000"))
        commit()
    context = browser.new_context(base_url=live_server, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.get_by_label("E-mail").fill(cast.user_a)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="English").click()
    page.goto("/orders/tasking/new")

    area = page.locator("#aoi-map")
    area.wait_for()
    box = area.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((0, 0), (25, 0), (25, 25), (0, 25)):
        page.mouse.click(x + dx, y + dy)
    page.get_by_role("button", name="Finish the polygon").click()
    shown = page.locator("#aoi-area").inner_text()
    assert "km²" in shown
    assert '"Polygon"' in page.locator("#aoi").input_value()
    coverage = page.locator("#aoi-coverage")
    coverage.wait_for(state="visible")
    assert "The catalogue already covers 0.0 %" in coverage.inner_text()

    start = dt.date.today() + dt.timedelta(days=10)
    page.get_by_label("Window starts").fill(start.isoformat())
    page.get_by_label("Window ends").fill((start + dt.timedelta(days=60)).isoformat())
    page.get_by_label("Project title").fill("Vineyard mapping")
    page.get_by_label("Project description").fill("Parcel-level mapping of vineyards.")
    page.get_by_label("Why new imagery is needed").fill("The vines changed since the last image.")
    page.get_by_role("button", name="Submit the request").click()
    expect(page.get_by_text("has been submitted")).to_be_visible()
    expect(page.get_by_text("under review").first).to_be_visible()
    context.close()
