"""The foundation's journey in a real browser: sign in, switch language,
reset a forgotten password through the e-mailed link, create an API token and
call GET /api/v1/me with it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.helpers import outbox

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a-brand-new-password-2026"


def test_login_language_reset_and_api_token(app, cast, page, live_server):
    # French by default (the browser asks for French).
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "fr"

    # Sign in.
    page.get_by_role("link", name="Se connecter").first.click()
    page.get_by_label("Adresse électronique").fill(cast.user_a)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_text("Vous êtes connecté")).to_be_visible()

    # Switch to English; the choice sticks on the next pages.
    page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto("/account")
    expect(page.get_by_role("heading", name="My account")).to_be_visible()

    # Sign out, then forget the password.
    page.get_by_role("button", name="Sign out").click()
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("E-mail").fill(cast.user_a)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_text("a link to choose a new password has been sent")).to_be_visible()

    mail = outbox(app, to=cast.user_a)[-1]
    assert mail.status == "sent"
    link = re.search(r"https?://\S+/reset-password/\S+", mail.body_text)
    assert link, mail.body_text
    path = "/reset-password/" + link.group(0).split("/reset-password/", 1)[1]
    page.goto(path)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_text("Your password has been changed")).to_be_visible()

    # The old password no longer works; the new one does.
    page.get_by_label("E-mail").fill(cast.user_a)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong e-mail or password")).to_be_visible()
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("You are signed in")).to_be_visible()

    # The reset link cannot be used twice.
    page.goto(path)
    expect(page.get_by_text("already been used")).to_be_visible()

    # Create an API token and call the API with it.
    page.goto("/account")
    page.get_by_label("Token name").fill("notebook")
    page.get_by_role("button", name="Create a token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("dnm_")
    response = page.request.get(
        f"{live_server}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    body = response.json()
    assert body["email"] == cast.user_a
    assert body["entity"]["name"] == "Laboratoire A"
    assert "user" in body["roles"]

    # Without the token, the API refuses (the session cookie is not enough).
    anonymous = page.request.get(f"{live_server}/api/v1/me")
    assert anonymous.status == 401
