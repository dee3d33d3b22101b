"""Membership in a real browser: request, e-mail check, Legal Representative,
staff approval, certificate, an account request approved by the Referent, sign-in."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import LegalDocument
from tests.helpers import outbox

pytestmark = pytest.mark.browser


def _link(app, to: str, fragment: str) -> str:
    body = outbox(app, to=to)[-1].body_text
    return re.search(rf"http://\S+({fragment}\S+)", body).group(1)


def _sign_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    if page.locator("html").get_attribute("lang") == "fr":  # the account's own language
        page.get_by_role("button", name="English").click()


def _set_password(page, path: str, password: str) -> None:
    page.goto(path)
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("Repeat the new password").fill(password)
    page.get_by_role("button", name="Save the new password").click()


def test_membership_journey(app, cast, browser, live_server):
    with app.app_context():
        db.session.add_all(
            [
                LegalDocument(
                    kind="charter",
                    code="charter",
                    version="1.0",
                    title="Dinamis Charter",
                    body="Use it well.",
                ),
                LegalDocument(
                    kind="licence",
                    code="licence-pleiades",
                    version="2.1",
                    title="Pléiades licence",
                    body="Institutional use.",
                ),
            ]
        )
        commit()
    context = browser.new_context(base_url=live_server, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)

    # 1. The future Referent asks to join and confirms their address.
    page.goto("/")
    page.get_by_role("link", name="Join", exact=True).click()  # the menu's
    page.get_by_label("Your professional e-mail").fill("rita@lab-new.test")
    page.get_by_label("First name").fill("Rita")
    page.get_by_label("Last name").fill("Newton")
    page.get_by_role("button", name="Confirm my address").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

    # 2. The link, then the entity's details.
    page.goto(_link(app, "rita@lab-new.test", "/join/details/"))
    page.get_by_label("Legal name").fill("Laboratoire Nouveau")
    page.get_by_label("Acronym").fill("LN")
    page.get_by_label("Identifier", exact=True).fill("73282932000075")  # wrong checksum
    page.get_by_label("Address").fill("1 rue de la Science, Paris")
    page.get_by_label("Legal Representative's name").fill("Léa Director")
    page.get_by_label("Their function").fill("Director")
    page.get_by_label("Their professional e-mail").fill("director@lab-new.test")
    page.get_by_role("button", name="Send to the Legal Representative").click()
    expect(page.get_by_text("This SIRET number is not valid")).to_be_visible()
    page.get_by_label("Identifier", exact=True).fill("73282932000074")
    page.get_by_role("button", name="Send to the Legal Representative").click()
    expect(page.get_by_role("heading", name="Request sent")).to_be_visible()

    # 3. The Legal Representative accepts the Charter and the licence.
    page.goto(_link(app, "director@lab-new.test", "/join/legal/"))
    expect(page.get_by_text("Use it well.")).to_be_visible()
    page.get_by_label("Dinamis Charter (v1.0)").check()
    page.get_by_label("Pléiades licence (v2.1)").check()
    page.get_by_role("button", name="Accept and sign").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()

    # 4. Staff approve with the French research profile.
    _sign_in(page, cast.staff, "correct-horse-battery")
    page.get_by_role("link", name="Memberships").click()
    page.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    page.get_by_label("Profile").select_option(label="French research")
    page.get_by_role("button", name="Approve and issue the certificate").click()
    expect(page.get_by_text("is now a member")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    # 5. The certificate arrives with the Legal Representative; it checks out.
    mail = outbox(app, to="director@lab-new.test")[-1]
    text = "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(mail.attachments[0].content)).pages
    )
    assert "Laboratoire Nouveau" in text and "Léa Director" in text and "Rita Newton" in text
    code = re.search(r"/verify/(\S+)", mail.body_text).group(1)
    page.goto(f"/verify/{code}")
    expect(page.get_by_text(f"Genuine certificate {code}")).to_be_visible()

    # 6. The Referent chooses a password.
    _set_password(page, _link(app, "rita@lab-new.test", "/reset-password/"), "rita-password-2026")

    # 7. A colleague asks for an account and confirms their address.
    page.goto("/join/account")
    page.get_by_label("Find your entity (name or acronym)").fill("Nouveau")
    page.get_by_role("button", name="Search").click()
    page.get_by_label("Laboratoire Nouveau (LN)").check()
    page.get_by_label("Your professional e-mail").fill("colleague@lab-new.test")
    page.get_by_label("First name").fill("Colin")
    page.get_by_label("Last name").fill("League")
    page.get_by_label("I am a permanent staff member of this entity").check()
    page.get_by_role("button", name="Send my request").click()
    page.goto(_link(app, "colleague@lab-new.test", "/join/account/confirm/"))
    expect(page.get_by_text("Your address is confirmed")).to_be_visible()

    # 8. The Referent approves the request.
    _sign_in(page, "rita@lab-new.test", "rita-password-2026")
    page.get_by_role("link", name="My entity").click()
    expect(page.get_by_text("domain verified")).to_be_visible()
    page.get_by_role("button", name="Approve Colin League").click()
    expect(page.get_by_text("Account approved")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    # 9. The colleague sets a password and signs in.
    _set_password(
        page, _link(app, "colleague@lab-new.test", "/reset-password/"), "colin-password-2026"
    )
    _sign_in(page, "colleague@lab-new.test", "colin-password-2026")
    expect(page.get_by_text("You are signed in")).to_be_visible()
    page.goto("/account")
    expect(page.get_by_text("Laboratoire Nouveau").first).to_be_visible()
    context.close()
