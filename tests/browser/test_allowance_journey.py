"""A new member's allowance in a real browser: staff approve a membership, the new
entity's quota page shows its (prorated) allowance at once; a profile change adds
the difference, recorded on the statement."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from playwright.sync_api import expect

from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import MembershipRequest, RequestStatus
from dinamis.quota.models import AllowanceRule
from tests.factories import make_profile

pytestmark = pytest.mark.browser


def test_an_approved_entity_has_its_allowance_and_a_profile_change_adjusts_it(
    app, cast, browser, live_server
):
    today = scheme_today()
    left = 12 - today.month + 1
    with app.app_context():
        research, public = make_profile("research-fr"), make_profile("public-fr")
        db.session.add_all(
            [
                AllowanceRule(profile_id=research.id, family="tasking", km2=Decimal("2000")),
                AllowanceRule(profile_id=public.id, family="tasking", km2=Decimal("3200")),
                MembershipRequest(
                    status=RequestStatus.AWAITING_REVIEW,
                    referent_email="rita@lab-new.test",
                    referent_first_name="Rita",
                    referent_last_name="Newton",
                    language="en",
                    entity_name="Laboratoire Nouveau",
                    country="FR",
                    legal_rep_name="Léa Director",
                    legal_rep_function="Director",
                    legal_rep_email="director@lab-new.test",
                ),
            ]
        )
        commit()

    def share(rule: str) -> Decimal:
        return (Decimal(rule) * left / 12).quantize(Decimal("0.01"), ROUND_HALF_UP)

    context = browser.new_context(base_url=live_server, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.get_by_label("E-mail").fill(cast.staff)
    page.get_by_label("Password", exact=True).fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    if page.locator("html").get_attribute("lang") == "fr":
        page.get_by_role("button", name="English").click()

    # Staff approve; the new entity's quota is there at once.
    page.get_by_role("link", name="Memberships").click()
    page.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    page.get_by_label("Profile").select_option(label="French research")
    page.get_by_role("button", name="Approve and issue the certificate").click()
    expect(page.get_by_text("is now a member")).to_be_visible()
    page.goto("/admin/entities")
    row = page.get_by_role("row").filter(has_text="Laboratoire Nouveau")
    row.get_by_role("link", name="Quota").click()
    expect(page.get_by_text("No allowance has been granted")).to_have_count(0)
    balances = page.get_by_role("region", name=re.compile("Free allowance"))
    expect(balances.get_by_role("row").filter(has_text="tasking")).to_contain_text(
        str(share("2000"))
    )
    statement = page.get_by_role("region", name="Ledger statement")
    if left < 12:
        expect(statement).to_contain_text(f"prorated to {left} month(s) of 12")
    else:
        expect(statement).to_contain_text("in full")

    # A profile change grants the difference, recorded with both profiles named.
    page.goto("/admin/entities")
    row = page.get_by_role("row").filter(has_text="Laboratoire Nouveau")
    row.get_by_label("Profile of Laboratoire Nouveau").select_option(label="French public actors")
    row.get_by_role("button", name="Change the profile").click()
    expect(page.get_by_text("now has the profile French public actors")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Laboratoire Nouveau")
    row.get_by_role("link", name="Quota").click()
    balances = page.get_by_role("region", name=re.compile("Free allowance"))
    expect(balances.get_by_role("row").filter(has_text="tasking")).to_contain_text(
        str(share("2000") + share("1200"))  # the first grant, then the difference
    )
    expect(page.get_by_role("region", name="Ledger statement")).to_contain_text(
        "profile changed from French research to French public actors"
    )
    context.close()
