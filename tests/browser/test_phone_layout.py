"""On a 390 px phone no page scrolls sideways: wide tables reflow or scroll inside
their card, long texts wrap (issue 14, item 14)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from dinamis.accounts import service as accounts
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.orders.models import Order
from dinamis.support import service as support
from tests.conftest import PASSWORD
from tests.reports.test_statistics import busy  # noqa: F401 - the fixture
from tests.reports.test_usage_reports import delivered  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LONG = "Télédétection" * 16  # 208 characters without a space: a title that cannot wrap at words
HUGE = "x" * 10_000  # a 10,000-character text without a space


@pytest.fixture
def phone_world(app, cast, busy):  # noqa: F811
    """The busy portal, with texts as long as the forms allow and longer."""
    with app.app_context():
        order = db.session.get(Order, busy)
        order.project_title = LONG[:200]
        order.project_description = HUGE[:5000]
        user = accounts.get_user_by_email(cast.user_a)
        ticket = support.open_ticket(
            user, support.Draft(category="other", subject=LONG[:200], body=HUGE)
        )
        commit()
        return {"order": order.id, "ticket": ticket.id}


def _pages(cast, world):
    anonymous = ["/", "/catalogue/", "/catalogue/scenes/DELIV_1", "/login", "/join", "/api"]
    member = [
        "/orders/",
        f"/orders/{world['order']}",
        "/orders/tasking/new",
        f"/quota/{cast.entity_a}",
        "/catalogue/basket",
        "/reports/",
        "/support/",
        f"/support/{world['ticket']}",
        "/account",
    ]
    referent = ["/entity", "/entity/details", "/reports/entity", f"/quota/{cast.entity_a}"]
    staff = [
        "/admin/memberships",
        "/admin/entities",
        "/admin/audit",
        "/admin/entity-changes",
        "/reports/stats",
        "/orders/",
        f"/orders/{world['order']}",
        f"/quota/{cast.entity_a}",
        f"/support/{world['ticket']}",
    ]
    return [
        (None, anonymous),
        (cast.user_a, member),
        (cast.referent_a, referent),
        (cast.staff, staff),
    ]


def test_no_page_scrolls_sideways_at_390_px(app, cast, browser, live_server, phone_world):
    too_wide = []
    for email, paths in _pages(cast, phone_world):
        for language in ("en-GB", "fr-FR"):
            context = browser.new_context(base_url=live_server, locale=language, viewport=PHONE)
            page = context.new_page()
            page.set_default_timeout(10_000)
            if email:
                page.goto("/login")
                page.locator("#email").fill(email)
                page.locator("#password").fill(PASSWORD)
                page.locator("main form button[type=submit]").click()
                page.wait_for_load_state()
            for path in paths:
                response = page.goto(path)
                assert response is not None and response.status < 400, (email, path)
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > PHONE["width"]:
                    wide = page.evaluate(
                        """() => [...document.querySelectorAll('body *')]
                        .filter(e => e.getBoundingClientRect().right > 391
                          && e.parentElement.getBoundingClientRect().right <= 391)
                        .slice(0, 3).map(e => e.tagName + '.' + e.className + ' '
                          + Math.round(e.getBoundingClientRect().right))"""
                    )
                    too_wide.append(f"{language} {email or 'anonymous'} {path}: {width} px {wide}")
            context.close()
    assert not too_wide, "\n".join(too_wide)


def test_the_quota_table_shows_available_on_a_phone(app, cast, browser, live_server, busy):  # noqa: F811
    context = browser.new_context(base_url=live_server, locale="en-GB", viewport=PHONE)
    page = context.new_page()
    page.goto("/login")
    page.locator("#email").fill(cast.user_a)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    page.goto(f"/quota/{cast.entity_a}")
    # The available figure (in bold in the balances table) is on screen, not
    # scrolled out of the card.
    available = page.locator("#balances-title ~ table strong").first
    expect(available).to_be_visible()
    box = available.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    context.close()
