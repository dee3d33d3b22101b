"""The catalogue in a real browser: draw, filter, footprints and quicklooks, a scene, downloads."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from dinamis.catalogue.ingest import Report, load
from dinamis.catalogue.storage import storage
from dinamis.core.transaction import commit
from tests.catalogue.test_downloads import DATA, collection
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _scene(sid: str, cid: str, lon: float, lat: float, cloud: float) -> dict:
    return {
        "type": "Feature",
        "id": sid,
        "collection": cid,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[lon, lat], [lon + 0.3, lat], [lon + 0.3, lat + 0.3], [lon, lat + 0.3], [lon, lat]]
            ],
        },
        "properties": {"datetime": "2025-06-01T10:30:00Z", "eo:cloud_cover": cloud},
        "assets": {
            "thumbnail": {"href": f"quicklooks/{sid}.png", "type": "image/png"},
            "data": {"href": f"scenes/{sid}.tif", "type": "image/tiff", "file:size": len(DATA)},
        },
    }


@pytest.fixture
def shelves(app):
    """Three scenes around (2.9 E, 46.2 N), where the map opens: it fits the footprints,
    and the two far-away scenes, west and east, are placed to centre it there."""
    picture = io.BytesIO()
    Image.new("RGB", (32, 32), (40, 140, 60)).save(picture, "PNG")
    with app.app_context():
        report = Report()
        load(
            [
                ("t", collection("open-data", "open")),
                ("t", collection("members-only", "members")),
                ("t", _scene("OPEN_CLEAR", "open-data", 2.7, 46.05, 5)),
                ("t", _scene("OPEN_CLOUDY", "open-data", 2.75, 46.1, 80)),
                ("t", _scene("MEMB_CLEAR", "members-only", 2.8, 46.1, 10)),
                ("t", _scene("FAR_WEST", "open-data", -3.0, 46.05, 0)),
                ("t", _scene("FAR_EAST", "open-data", 8.5, 46.05, 0)),
            ],
            report,
        )
        assert report.errors == []
        for sid in ("OPEN_CLEAR", "OPEN_CLOUDY", "MEMB_CLEAR", "FAR_WEST", "FAR_EAST"):
            storage().put(f"quicklooks/{sid}.png", picture.getvalue())
            storage().put(f"scenes/{sid}.tif", DATA)
        commit()


def test_search_open_a_scene_and_download(app, cast, browser, live_server, shelves, tmp_path):
    context = browser.new_context(base_url=live_server, locale="en-GB", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/catalogue/")  # in English: the browser asks for it

    # Draw the area around the map's centre, filter on cloud cover, search.
    area = page.locator("#aoi-map")
    area.wait_for()
    box = area.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((-8, -8), (8, -8), (8, 8), (-8, 8)):
        page.mouse.click(x + dx, y + dy)
    page.get_by_role("button", name="Finish the polygon").click()
    assert "km²" in page.locator("#aoi-area").inner_text()
    page.get_by_label("Max cloud cover (%)").fill("50")
    page.get_by_role("button", name="Search").click()

    rows = page.locator("tr[data-scene]")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.scene)")) == [
        "MEMB_CLEAR",
        "OPEN_CLEAR",
    ]
    expect(page.locator("#search-coverage")).to_be_visible()
    # Footprints on the map (and the drawn area), quicklooks loaded in the list.
    assert page.locator(".leaflet-overlay-pane path").count() >= 3
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.thumb')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)

    # Open the open-data scene, accept its licence, download its file.
    page.get_by_role("link", name="OPEN_CLEAR").click()
    assert page.locator("img.quicklook").evaluate("i => i.naturalWidth") > 0
    # Its footprint drawn on a map of its own, with the land outline behind it.
    expect(page.locator("#scene-footprint-map path.leaflet-interactive")).to_be_visible()
    expect(page.locator("#scene-footprint-map path").nth(1)).to_be_attached()
    page.get_by_role("link", name="Accept the licence to download").click()
    page.get_by_role("button", name="I accept the licence").click()
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download").click()
    target = tmp_path / "open.tif"
    caught.value.save_as(target)
    assert target.read_bytes() == DATA

    # An anonymous visitor gets no file of the members collection, whatever the URL.
    page.goto("/catalogue/scenes/MEMB_CLEAR")
    assert page.get_by_role("link", name="Download").count() == 0
    assert "Sign in" in page.locator("#files").inner_text()
    response = page.request.get("/catalogue/scenes/MEMB_CLEAR/files/data", max_redirects=0)
    assert response.status == 302 and "/login" in response.headers["location"]
    context.close()

    # A member accepts that licence once, then downloads.
    member = browser.new_context(base_url=live_server, locale="en-GB", accept_downloads=True)
    page = member.new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.get_by_label("E-mail").fill(cast.user_a)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="English").click()
    page.goto("/catalogue/scenes/MEMB_CLEAR")
    page.get_by_role("link", name="Accept the licence to download").click()
    assert "recorded once" in page.content()
    page.get_by_role("button", name="I accept the licence").click()
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download").click()
    caught.value.save_as(tmp_path / "members.tif")
    assert (tmp_path / "members.tif").read_bytes() == DATA
    member.close()
