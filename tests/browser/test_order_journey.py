"""A tasking request from the map to its closing, as its four people see it, in Chromium."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from geoalchemy2.shape import to_shape
from playwright.sync_api import expect
from shapely.geometry import box

from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders.models import Order
from dinamis.quota import service as quota
from dinamis.quota.models import PriceRule
from tests.conftest import PASSWORD
from tests.factories import make_collection, make_scene

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


def _zoom_in(page, times: int) -> None:
    """Zoom the AOI map in, each step's animation over before the next (a loaded
    machine draws slowly: a click during the animation would be lost). Leaflet's zoom
    proxy carries the map's scale: it changes when the step is taken."""
    proxy = page.locator("#aoi-map .leaflet-proxy")
    for _ in range(times):
        before = proxy.get_attribute("style")
        page.get_by_role("button", name="Zoom in").click()
        page.wait_for_function(ZOOMED, arg=before)


ZOOMED = """before => document.querySelector('#aoi-map .leaflet-proxy').getAttribute('style')
    !== before && !document.querySelector('#aoi-map .leaflet-zoom-anim')"""
# The line being drawn has as many points as there were clicks (its path: M x y L x y...).
POINTS = """n => (document.querySelector('#aoi-map path.leaflet-interactive')
    ?.getAttribute('d') || '').split('L').length >= n"""


def _draw_square(page, side_px: int) -> float:
    """Draw a square of `side_px` pixels at the map's centre; the area the page shows."""
    page.get_by_role("button", name="Clear").click()
    box = page.locator("#aoi-map").bounding_box()
    x, y = box["x"] + box["width"] / 2 - side_px / 2, box["y"] + box["height"] / 2 - side_px / 2
    corners = ((0, 0), (side_px, 0), (side_px, side_px), (0, side_px))
    for count, (dx, dy) in enumerate(corners, start=1):
        page.mouse.click(x + dx, y + dy)  # single clicks (never a double-click)
        if count > 1:
            page.wait_for_function(POINTS, arg=count)
    page.get_by_role("button", name="Finish the polygon").click()
    shown = page.locator("#aoi-area").inner_text()
    return float(re.sub(r"[^\d.]", "", shown.replace(",", "")))


def _fill(page) -> None:
    start = scheme_today() + dt.timedelta(days=10)
    page.get_by_label("Window starts").fill(start.isoformat())
    page.get_by_label("Window ends").fill((start + dt.timedelta(days=60)).isoformat())
    page.get_by_label("Project title").fill("Dune survey")
    page.get_by_label("Project description").fill("Mapping of the dunes after the storms.")
    page.get_by_label("Why new imagery is needed").fill("No recent image.")


def test_tasking_request_from_map_to_closing(app, cast, browser, live_server):
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        db.session.add(
            PriceRule(
                profile_id=entity.profile_id,
                sensor="pleiades",
                order_kind="tasking",
                eur_per_km2=Decimal("1.80"),
            )
        )
        quota.grant(entity, "tasking", quota.period_for(scheme_today()), Decimal("100"))
        commit()

    context, page = _signed_in(browser, live_server, cast.user_a)
    page.goto("/orders/tasking/new")
    page.locator("#aoi-map").wait_for()
    _zoom_in(page, 4)  # to draw areas of tens of km²

    # About 80 km²: refused before submitting, and at submission, with the area.
    small = _draw_square(page, 42)
    assert 50 < small < 100, small
    split = page.locator("#aoi-split")
    split.wait_for(state="visible")
    assert "at least 100 km²" in split.inner_text()  # the limit the submission enforces
    _fill(page)
    page.get_by_role("button", name="Submit the request").click()
    refusal = page.get_by_text("a tasking request needs at least 100 km²").first
    expect(refusal).to_be_visible()
    assert re.search(r"covers [\d.]+ km²", page.content())

    # About 150 km²: the split shows what is free and what would be co-funded.
    page.goto("/orders/tasking/new")
    page.locator("#aoi-map").wait_for()
    _zoom_in(page, 4)
    big = _draw_square(page, 60)
    assert 110 < big < 200, big
    page.wait_for_function(
        "() => document.getElementById('aoi-split').textContent.includes('co-funded')"
    )
    assert "100.00 km² free" in split.inner_text()
    _fill(page)
    page.get_by_role("button", name="Submit the request").click()
    expect(page.get_by_text("has been submitted")).to_be_visible()
    order_url = page.url
    assert "Awaiting quote" in page.content() or "awaiting" in page.content().lower()
    context.close()

    # The Referent accepts the quote.
    context, page = _signed_in(browser, live_server, cast.referent_a)
    page.goto(order_url)
    page.get_by_role("button", name="Accept the quote").click()
    assert "Under review" in page.content() or "under review" in page.content().lower()
    context.close()

    # The acquisition is ingested into the catalogue: a Pléiades scene over the whole
    # area, within the window, with its file.
    with app.app_context():
        order = db.session.get(Order, int(order_url.rstrip("/").rsplit("/", 1)[-1]))
        west, south, east, north = to_shape(order.aoi).bounds
        make_collection("pleiades-delivered", sensor_family="pleiades")
        acquired_at = dt.datetime.combine(order.window_start, dt.time(10, 30), tzinfo=dt.UTC)
        make_scene(
            "PHR1A_DELIVERED_0001",
            box(west - 0.01, south - 0.01, east + 0.01, north + 0.01),
            acquired_at + dt.timedelta(days=2),
            collection="pleiades-delivered",
            data=b"delivered image bytes",
        )
        commit()

    # Staff accept, deliver that scene (its area measured, not typed), close.
    context, page = _signed_in(browser, live_server, cast.staff)
    page.goto(order_url)
    # The order's area of interest on a map.
    expect(page.locator("#order-aoi-map path.leaflet-interactive")).to_be_visible()
    page.get_by_role("button", name="Accept (feasible)").click()
    charged = re.search(r"Charged</dt><dd>([\d.]+) km²", page.content()).group(1)
    candidate = page.locator('#delivery-candidates-table tr[data-scene="PHR1A_DELIVERED_0001"]')
    expect(candidate).to_contain_text(f"{charged} km²")
    page.get_by_label("Delivered scene").fill("NOPE-SCENE")
    page.get_by_role("button", name="Record the delivery").click()
    expect(page.get_by_text("There is no scene NOPE-SCENE in the catalogue.").first).to_be_visible()
    page.get_by_label("Delivered scene").fill("PHR1A_DELIVERED_0001")
    page.get_by_role("button", name="Record the delivery").click()
    expect(page.get_by_text("The delivery was recorded.")).to_be_visible()
    page.get_by_role("button", name="Close the order").click()
    assert "Closed" in page.content() or "closed" in page.content().lower()
    context.close()

    # The requester sees the delivered scene as a link, and downloads its file.
    context, page = _signed_in(browser, live_server, cast.user_a)
    page.goto(order_url)
    delivered = page.locator("#delivered")
    expect(delivered.get_by_role("link", name="PHR1A_DELIVERED_0001")).to_be_visible()
    delivered.get_by_role("link", name="Accept the licence to download").click()
    page.get_by_role("button", name="I accept the licence").click()
    assert page.url == order_url
    with page.expect_download() as download:
        page.locator("#delivered").get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "PHR1A_DELIVERED_0001.tif"
    context.close()

    # The quota page shows the allowance consumed.
    context, page = _signed_in(browser, live_server, cast.user_a)
    page.goto("/quota/")
    row = page.locator("tbody tr").first.inner_text()
    cells = row.split("\t")
    assert cells[1].strip() == "100.00" and cells[3].strip() == "100.00", cells  # consumed
    assert cells[4].strip() == "0.00"
    context.close()
