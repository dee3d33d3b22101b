"""A tasking request with its area drawn on the map, in a real browser."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from decimal import Decimal

import pytest
from playwright.sync_api import Error, expect

from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.quota import service as quota
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_draw_the_area_and_submit(app, cast, browser, live_server):
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "tasking", quota.period_for(scheme_today()), Decimal("10000"))
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

    start = scheme_today() + dt.timedelta(days=10)
    page.get_by_label("Window starts").fill(start.isoformat())
    page.get_by_label("Window ends").fill((start + dt.timedelta(days=60)).isoformat())
    page.get_by_label("Project title").fill("Vineyard mapping")
    page.get_by_label("Project description").fill("Parcel-level mapping of vineyards.")
    page.get_by_label("Why new imagery is needed").fill("The vines changed since the last image.")
    page.get_by_role("button", name="Submit the request").click()
    expect(page.get_by_text("has been submitted")).to_be_visible()
    expect(page.get_by_text("under review").first).to_be_visible()
    context.close()


def _draw(page, size=25):
    area = page.locator("#aoi-map")
    area.wait_for()
    box = area.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((0, 0), (size, 0), (size, size), (0, size)):
        page.mouse.click(x + dx, y + dy)
    page.get_by_role("button", name="Finish the polygon").click()


def _signed_in_page(app, cast, browser, live_server):
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "tasking", quota.period_for(scheme_today()), Decimal("10000"))
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
    return context, page


def _until(page, condition, timeout_s: float = 10.0) -> None:
    """Wait until `condition()` holds, letting Playwright deliver the page's events
    (route and request handlers run while it talks to the browser)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        page.wait_for_function("() => true")


def test_the_preview_is_never_stale(app, cast, browser, live_server):
    """A change of mode marks the preview as recomputing at once; an answer to an
    earlier question, arriving last, does not overwrite the latest one."""
    context, page = _signed_in_page(app, cast, browser, live_server)
    split = page.locator("#aoi-split")
    _draw(page)
    expect(split).to_contain_text("Charged")
    mono = split.inner_text()

    held = []
    over = []  # requests answered or failed (the page aborts a question it abandons)
    page.route("**/orders/coverage", lambda route: held.append(route))
    page.on("requestfinished", lambda request: over.append(request))
    page.on("requestfailed", lambda request: over.append(request))
    page.get_by_label("Acquisition mode").select_option("stereo")
    # At once, before any answer: not the old figures.
    assert split.inner_text() != mono
    expect(split).to_contain_text("Recomputing")
    expect(split).to_have_attribute("aria-busy", "true")
    _until(page, lambda: len(held) >= 1)
    assert len(held) == 1
    page.get_by_label("Acquisition mode").select_option("tristereo")
    _until(page, lambda: len(held) >= 2)
    assert len(held) == 2
    held[1].continue_()
    expect(split).to_contain_text("Charged")
    tristereo = split.inner_text()
    assert tristereo != mono
    # The first question's answer arrives last (the page has abandoned it).
    with contextlib.suppress(Error):
        held[0].continue_()
    _until(page, lambda: held[0].request in over)  # the first question is over
    assert split.inner_text() == tristereo
    context.close()


def test_the_preview_states_the_maximum_area(app, cast, browser, live_server):
    context, page = _signed_in_page(app, cast, browser, live_server)
    _draw(page, size=120)  # far more than 10,000 km² at the map's first zoom
    split = page.locator("#aoi-split")
    expect(split).to_contain_text("at most 10,000 km²")
    expect(split).to_have_class(re.compile("flash-error"))
    assert "Quote" not in split.inner_text() and "Charged" not in split.inner_text()
    context.close()
