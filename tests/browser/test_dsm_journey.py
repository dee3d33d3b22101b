"""In Chromium: a member asks for a surface model from a scene's page, watches its
progress on the request's page (which follows the computation by itself), and
downloads it once delivered. The worker's steps are taken by the test (the live
server shares the test's transaction, which a worker process cannot see); the
real worker is tested in test_worker.py."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dinamis.core.transaction import commit
from dinamis.dsm import service
from dinamis.dsm.models import DsmRequest
from dinamis.extensions import db
from tests.conftest import PASSWORD
from tests.dsm.helpers import make_world

pytestmark = pytest.mark.browser


def _signed_in(browser, live_server: str, email: str):
    context = browser.new_context(base_url=live_server, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("link", name="Modèles de surface")).to_be_visible()
    return context, page


def _product(tmp_path: Path) -> service.Product:
    from PIL import Image

    dsm, shade = tmp_path / "dsm.tif", tmp_path / "shade.png"
    Image.new("F", (8, 8), 42.0).save(dsm, "TIFF")
    Image.new("L", (8, 8), 128).save(shade, "PNG")
    return service.Product(dsm, shade, [0, 0, 1, 1], 32631, "EGM96", -32768.0, 0.95, "log", "1.3.0")


def test_request_watch_and_download(app, cast, browser, live_server, tmp_path):
    with app.app_context():
        make_world([cast.entity_a], allowance=Decimal("500"))
        commit()
    context, page = _signed_in(browser, live_server, cast.user_a)
    try:
        page.goto("/catalogue/scenes/PHR_PAIR_1")
        page.locator("#dsm-request").click()
        expect(page.locator("h1")).to_have_text("Demander un modèle de surface")
        expect(page.locator('#aoi-map path[stroke="#c0392b"]')).to_have_count(1)  # the overlap
        page.locator("#project_title").fill("Dunes")
        page.locator("#project_description").fill("Hauteurs des dunes côtières.")
        page.screenshot(path=str(tmp_path / "form.png"), full_page=True)
        page.get_by_role("button", name="Déposer la demande").click()
        expect(page.locator("#dsm-status")).to_have_text("en file d'attente")
        expect(page.locator("#dsm-progress")).to_have_attribute("value", "0")
        with app.app_context():
            (request,) = db.session.scalars(select(DsmRequest)).all()
            request_id = request.id

        # the worker takes it and reports progress, between two of the page's questions
        with page.expect_response(re.compile(r"/progress$")):
            pass
        with app.app_context():
            assert service.start(request_id, None) is not None
            service.progress(request_id, 40, "dense matching")
            commit()
        expect(page.locator("#dsm-status")).to_have_text("en cours de calcul", timeout=20_000)
        expect(page.locator("#dsm-progress-text")).to_contain_text("40 %", timeout=20_000)
        page.screenshot(path=str(tmp_path / "running.png"), full_page=True)
        with page.expect_response(re.compile(r"/progress$")):
            pass
        with app.app_context():
            assert service.deliver(request_id, _product(tmp_path)) is not None
            commit()
        expect(page.locator("#dsm-status")).to_have_text("livrée", timeout=20_000)
        page.screenshot(path=str(tmp_path / "delivered.png"), full_page=True)
        product = page.locator("#product")
        product.get_by_role("link", name="Accepter la licence pour télécharger").click()
        page.locator("#accept-licence").click()
        expect(page.locator("#product")).to_be_visible()
        with page.expect_download() as download:
            page.locator("#product").get_by_role("link", name="Télécharger").click()
        saved = tmp_path / "got.tif"
        download.value.save_as(saved)
        assert saved.read_bytes()[:2] in (b"II", b"MM")
    finally:
        context.close()
