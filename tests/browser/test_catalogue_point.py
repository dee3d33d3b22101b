"""The catalogue searched by a point in a real browser: "which scenes cover my site?"."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.test_catalogue_journey import shelves  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser


def test_mark_a_point_on_the_map_and_search(app, browser, live_server, shelves):  # noqa: F811
    context = browser.new_context(base_url=live_server, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/catalogue/")
    area = page.locator("#aoi-map")
    area.wait_for()
    box = area.bounding_box()
    marker = page.get_by_role("button", name="Mark a point")
    marker.click()
    expect(marker).to_have_attribute("aria-pressed", "true")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(marker).to_have_attribute("aria-pressed", "false")
    point = json.loads(page.locator("#aoi").input_value())
    assert point["type"] == "Point"
    longitude, latitude = point["coordinates"]
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tr[data-scene]")
    found = set(rows.evaluate_all("rs => rs.map(r => r.dataset.scene)"))
    # The scenes whose 0.3° square holds the point, and only them.
    squares = {
        "OPEN_CLEAR": (2.7, 46.05),
        "OPEN_CLOUDY": (2.75, 46.1),
        "MEMB_CLEAR": (2.8, 46.1),
        "FAR_WEST": (-3.0, 46.05),
        "FAR_EAST": (8.5, 46.05),
    }
    expected = {
        sid
        for sid, (west, south) in squares.items()
        if west <= longitude <= west + 0.3 and south <= latitude <= south + 0.3
    }
    assert expected and found == expected
    # The point drawn after the search: a circle (an arc in its SVG path) in the search's colour.
    page.wait_for_function(
        """() => [...document.querySelectorAll("#aoi-map path[stroke='#1f4e8c']")]
            .some(p => / a/.test(p.getAttribute("d") || ""))"""
    )
    # Typed as latitude, longitude: the same scenes.
    page.locator("#aoi").fill(f"{latitude}, {longitude}")
    page.get_by_role("button", name="Search").click()
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.scene)")) == expected
    context.close()
