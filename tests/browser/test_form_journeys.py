"""Forms as a person uses them: Back then Send again, and a refused form that says why."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import AccountRequest, Entity
from dinamis.orders.models import Order
from dinamis.quota import service as quota
from dinamis.quota.models import LedgerEntry
from tests.browser.test_order_journey import _draw_square, _fill, _signed_in, _zoom_in

pytestmark = pytest.mark.browser


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_back_then_submit_again_shows_the_first_order(app, cast, browser, live_server):
    """Issue 14.2: Back, then Submit, created a second identical order and reserved again."""
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "tasking", quota.period_for(scheme_today()), Decimal("1000"))
        commit()
    context, page = _signed_in(browser, live_server, cast.user_a)
    page.goto("/orders/tasking/new")
    page.locator("#aoi-map").wait_for()
    _zoom_in(page, 4)
    area = _draw_square(page, 60)
    assert 110 < area < 200, area
    _fill(page)
    page.get_by_role("button", name="Submit the request").click()
    expect(page.get_by_text("has been submitted")).to_be_visible()
    order_url = page.url
    with app.app_context():
        number = db.session.scalars(select(Order)).one().number
    entries = _count(app, LedgerEntry)

    page.go_back()
    page.get_by_role("button", name="Submit the request").click()

    notice = page.get_by_text("This request was already submitted")
    expect(notice).to_be_visible()
    expect(notice.get_by_role("link", name=number)).to_be_visible()
    assert page.url == order_url
    assert _count(app, Order) == 1
    assert _count(app, LedgerEntry) == entries  # nothing reserved again
    context.close()


def test_a_refused_account_request_says_what_to_fix_at_each_field(app, cast, browser, live_server):
    """Issue 14.4: no entity, or no 'permanent staff' box, came back as a bare 422."""
    context = browser.new_context(base_url=live_server, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/join/account?q=Laboratoire")
    page.get_by_label("Your professional e-mail").fill("nina@gmail.com")
    page.get_by_label("First name").fill("Nina")
    page.get_by_role("button", name="Send my request").click()

    # Every problem at once, each beside its field.
    expect(page.locator("#entity-error")).to_contain_text("pick it in the list")
    expect(page.locator("#permanent-error")).to_contain_text("Tick this box")
    expect(page.locator("#email-error")).to_contain_text("Professional address")
    expect(page.locator("#last_name-error")).to_be_visible()
    expect(page.get_by_text("Some fields need your attention")).to_be_visible()
    assert (
        page.get_by_label("I am a permanent staff member").get_attribute("aria-invalid") == "true"
    )

    page.get_by_label("Laboratoire A").check()
    page.get_by_label("Your professional e-mail").fill("nina@labo-a.test")
    page.get_by_label("Last name").fill("New")
    page.get_by_label("I am a permanent staff member").check()
    # A double click on Send: the person sees the success, not "already waiting".
    page.get_by_role("button", name="Send my request").dblclick()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    expect(page.get_by_text("nina@labo-a.test")).to_be_visible()
    assert _count(app, AccountRequest) == 1
    context.close()
