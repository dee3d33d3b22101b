"""The basket in a real browser: filled from the result list, found again in another browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_catalogue_journey import shelves  # noqa: F401 - the fixture
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _signed_in(browser, live_server: str, email: str):
    context = browser.new_context(base_url=live_server, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if page.get_by_role("button", name="English").count():
        page.get_by_role("button", name="English").click()
    return context, page


def test_fill_the_basket_from_the_results_and_find_it_elsewhere(
    app,
    cast,
    browser,
    live_server,
    shelves,  # noqa: F811
):
    laptop, page = _signed_in(browser, live_server, cast.user_a)
    page.goto("/catalogue/?max_cloud=50")
    rows = page.locator("tr[data-scene]")
    expect(rows).to_have_count(4)  # OPEN_CLOUDY is too cloudy
    # One scene from its row, without opening it.
    row = page.locator('tr[data-scene="MEMB_CLEAR"]')
    row.get_by_role("button", name="Add to the basket").click()
    expect(page.get_by_text("MEMB_CLEAR is in your basket.")).to_be_visible()
    assert "max_cloud=50" in page.url  # back on the same results
    expect(page.locator('tr[data-scene="MEMB_CLEAR"]')).to_contain_text("In the basket")
    # Then every scene of the page.
    page.get_by_role("button", name="Add all the scenes of this page to the basket").click()
    expect(page.get_by_text("3 scene(s) added to your basket.")).to_be_visible()
    laptop.close()

    # Signed in on another browser: the same basket, with its files.
    phone, page = _signed_in(browser, live_server, cast.user_a)
    page.goto("/catalogue/basket")
    expect(page.get_by_text("4 scene(s) in the basket.")).to_be_visible()
    for sid in ("MEMB_CLEAR", "OPEN_CLEAR", "FAR_WEST", "FAR_EAST"):
        expect(page.get_by_role("link", name=sid, exact=True)).to_be_visible()
    # The licence rules are unchanged: accept first, then the signed links.
    expect(page.get_by_role("link", name="Accept the licence first").first).to_be_visible()
    phone.close()
