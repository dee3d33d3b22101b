"""Allowances through an entity's life: at approval (prorated or full), on a profile change."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership import service as membership
from dinamis.membership.models import Entity, MembershipRequest, RequestStatus
from dinamis.quota import service
from dinamis.quota.models import AllowanceRule
from dinamis.quota.statement import statement
from dinamis.reports import stats
from tests.conftest import login
from tests.factories import make_entity, make_profile, make_user

D = Decimal


@pytest.fixture
def ctx(app):
    with app.app_context(), force_locale("en"):
        yield


@pytest.fixture
def mode(app):
    """Switch DINAMIS_ALLOWANCE_ON_JOINING for one test."""
    settings = app.config["DINAMIS_SETTINGS"]

    def use(value: str) -> None:
        app.config["DINAMIS_SETTINGS"] = replace(settings, allowance_on_joining=value)

    yield use
    app.config["DINAMIS_SETTINGS"] = settings


def _rules(code: str, period_kind: str = "year", **km2: str) -> None:
    profile = make_profile(code)
    for family, amount in km2.items():
        db.session.add(
            AllowanceRule(
                profile_id=profile.id, family=family, period_kind=period_kind, km2=D(amount)
            )
        )
    db.session.flush()


def _granted(entity, period, family="tasking"):
    rows = [b for b in service.balances(entity) if b.period == period and b.family == family]
    return rows[0].granted if rows else D("0.00")


def test_period_bounds_and_months_left():
    assert service.period_bounds("2028") == (dt.date(2028, 1, 1), dt.date(2028, 12, 31))
    assert service.period_bounds("2028-Q1") == (dt.date(2028, 1, 1), dt.date(2028, 3, 31))
    assert service.period_bounds("2027-Q4") == (dt.date(2027, 10, 1), dt.date(2027, 12, 31))
    assert service.months_left("2027", None) == (12, 12)
    assert service.months_left("2027", dt.date(2026, 5, 3)) == (12, 12)  # member before
    assert service.months_left("2027", dt.date(2027, 1, 1)) == (12, 12)
    assert service.months_left("2027", dt.date(2027, 6, 10)) == (7, 12)  # June counts
    assert service.months_left("2027", dt.date(2027, 12, 31)) == (1, 12)
    assert service.months_left("2027-Q2", dt.date(2027, 5, 31)) == (2, 3)
    assert service.months_left("2027", dt.date(2028, 1, 1)) == (0, 12)


def test_prorating_is_exact_decimal_rounded_half_up():
    e = service.entitlement
    assert e(D("2000"), "2027", dt.date(2027, 12, 6), "prorated") == service.Entitlement(
        D("166.67"), "allowance:prorated:1/12"
    )
    assert e(D("1000"), "2027", dt.date(2027, 6, 1), "prorated").km2 == D("583.33")
    assert e(D("500"), "2027", dt.date(2027, 8, 15), "prorated").km2 == D("208.33")
    # 0.10 * 1 / 12 = 0.008333... -> 0.01; 0.06 * 1 / 12 = 0.005 exactly -> 0.01 (half up)
    assert e(D("0.10"), "2027", dt.date(2027, 12, 1), "prorated").km2 == D("0.01")
    assert e(D("0.06"), "2027", dt.date(2027, 12, 1), "prorated").km2 == D("0.01")
    assert e(D("300"), "2027-Q3", dt.date(2027, 8, 2), "prorated") == service.Entitlement(
        D("200.00"), "allowance:prorated:2/3"
    )
    assert e(D("2000"), "2027", dt.date(2027, 12, 6), "full") == service.Entitlement(
        D("2000.00"), "allowance:full"
    )
    assert e(D("2000"), "2027", dt.date(2026, 3, 1), "prorated").km2 == D("2000.00")
    assert isinstance(e(D("2000"), "2027", dt.date(2027, 4, 1), "prorated").km2, Decimal)


def _awaiting_request(email: str = "rita@lab-new.test") -> MembershipRequest:
    request = MembershipRequest(
        status=RequestStatus.AWAITING_REVIEW,
        referent_email=email,
        referent_first_name="Rita",
        referent_last_name="New",
        language="en",
        entity_name="Laboratoire Nouveau",
        country="FR",
        legal_rep_name="Léa Director",
        legal_rep_function="Director",
        legal_rep_email="director@lab-new.test",
    )
    db.session.add(request)
    db.session.flush()
    return request


def _expected(rule: str, day: dt.date) -> Decimal:
    left = 12 - day.month + 1
    return (D(rule) * left / 12).quantize(D("0.01"), rounding=ROUND_HALF_UP)


def test_a_newly_approved_entity_gets_its_allowance_at_once(app, client, cast):
    """Was: /quota/<new entity> said no allowance, previews were 100 % co-funded."""
    today = scheme_today()
    year = str(today.year)
    with app.app_context():
        _rules("research-fr", tasking="2000", archive="1000")
        _rules("research-fr", "quarter", dsm="300")
        request = _awaiting_request()
        commit()
        request_id = request.id
    login(client, cast.staff)
    page = client.get(f"/admin/memberships/{request_id}").get_data(as_text=True)
    profile = page.split('">French research')[0].rsplit('<option value="', 1)[1]
    from tests.helpers import csrf_token

    token = csrf_token(client, f"/admin/memberships/{request_id}")
    response = client.post(
        f"/admin/memberships/{request_id}/approve", data={"profile": profile, "csrf_token": token}
    )
    assert response.status_code == 302
    with app.app_context(), force_locale("en"):
        entity = db.session.scalar(select(Entity).where(Entity.name == "Laboratoire Nouveau"))
        tasking = _expected("2000", today)
        assert _granted(entity, year) == tasking
        assert _granted(entity, year, "archive") == _expected("1000", today)
        quarter = service.period_for(today, "quarter")
        left_in_quarter = 3 - (today.month - 1) % 3
        assert _granted(entity, quarter, "dsm") == (D(300) * left_in_quarter / 3).quantize(
            D("0.01"), rounding=ROUND_HALF_UP
        )
        # the tasking preview of its members splits against it
        split = service.split(entity, "tasking", year, D("100"))
        assert split.free == min(D("100.00"), tasking)
        # the staff statistics count it
        rows = {r["group"]: r for r in stats.ledger(stats.Filters(period=year), "entity")}
        assert rows["Laboratoire Nouveau"]["granted_km2"] == tasking + _expected("1000", today)
        (line, *_rest) = statement(entity, year)
        left = 12 - today.month + 1
        if left < 12:
            assert line.reason == f"allowance:prorated:{left}/12"
            assert f"prorated to {left} month(s) of 12" in line.reason_text
        entity_id = entity.id
        # a second opening of the running periods (the scheduled task) changes nothing
        before = len(statement(entity))
        service.open_current_periods(today)
        assert len(statement(entity)) == before
        assert _granted(entity, year) == tasking
    quota_page = html.unescape(client.get(f"/quota/{entity_id}").get_data(as_text=True))
    assert "No allowance has been granted" not in quota_page
    assert str(tasking) in quota_page


def test_full_mode_grants_the_whole_allowance_and_says_so(ctx, mode):
    mode("full")
    _rules("research-fr", tasking="2000")
    entity = make_entity("Lab Full", membership_start=dt.date(2027, 12, 6))
    service.open_for_entity(entity, dt.date(2027, 12, 6))
    assert _granted(entity, "2027") == D("2000.00")
    (line,) = statement(entity, "2027")
    assert line.reason == "allowance:full"
    assert line.reason_text == "allowance of the entity's profile, in full"
    with force_locale("fr"):
        (line,) = statement(entity, "2027")
        assert line.reason_text == "dotation du profil de l'entité, entière"


def test_opening_a_running_period_late_prorates_by_the_membership_start(ctx, mode):
    mode("prorated")
    _rules("research-fr", tasking="1200")
    old = make_entity("Lab Old", membership_start=dt.date(2020, 1, 1))
    new = make_entity("Lab New", membership_start=dt.date(2027, 10, 20))
    later = make_entity("Lab Later", membership_start=dt.date(2028, 2, 1))
    gone = make_entity(
        "Lab Gone", membership_start=dt.date(2023, 1, 1), membership_end=dt.date(2026, 12, 31)
    )
    opened = service.open_period("2027")
    assert _granted(gone, "2027") == D("0.00")
    assert _granted(old, "2027") == D("1200.00")
    assert _granted(new, "2027") == D("300.00")  # 3 months of 12
    assert _granted(later, "2027") == D("0.00")
    assert all(o.entity_id != later.id for o in opened)
    again = service.open_period("2027")
    assert not any(o.new for o in again)
    assert _granted(new, "2027") == D("300.00")
    with force_locale("fr"):
        (line,) = statement(new, "2027")
        assert line.reason_text == "dotation du profil de l'entité au prorata de 3 mois sur 12"


def test_a_profile_change_up_then_down_posts_the_difference(ctx, mode):
    mode("prorated")
    _rules("research-fr", tasking="1200", archive="600")
    _rules("public-fr", tasking="2400", neo="120")
    staff = make_user("staff@dinamis.test", role="staff")
    entity = make_entity("Lab P", membership_start=dt.date(2026, 1, 1))
    service.open_period("2027")
    research, public = make_profile("research-fr"), make_profile("public-fr")
    day = dt.date(2027, 10, 5)  # 3 months of 12 left

    up = membership.change_profile(staff, entity, public.id, today=day)
    assert {(c.family, c.km2) for c in up} == {
        ("tasking", D("300.00")),  # (2400 - 1200) * 3 / 12
        ("archive", D("-150.00")),  # (0 - 600) * 3 / 12
        ("neo", D("30.00")),  # first allowance of this family: 120 * 3 / 12
    }
    assert _granted(entity, "2027") == D("1500.00")
    assert _granted(entity, "2027", "archive") == D("450.00")
    assert _granted(entity, "2027", "neo") == D("30.00")
    lines = {(line.kind, line.family): line for line in statement(entity, "2027")}
    adjustment = lines[("adjustment", "tasking")]
    assert adjustment.reason == "profile:research-fr>public-fr:prorated:3/12"
    assert adjustment.reason_text == (
        "profile changed from French research to French public actors: the difference, "
        "prorated to 3 month(s) of 12"
    )
    assert lines[("grant", "neo")].reason == "profile:research-fr>public-fr:prorated:3/12"

    # back down, once most of the tasking allowance is used: never below zero
    service.reserve(entity, "tasking", "2027", D("1400"), "order:9")
    down = membership.change_profile(staff, entity, research.id, today=day)
    assert {(c.family, c.km2) for c in down} == {
        ("tasking", D("-100.00")),  # 300 asked back, only 100 available
        ("archive", D("150.00")),
        ("neo", D("-30.00")),
    }
    assert service.balances(entity)[0].available >= 0
    short = [
        line
        for line in statement(entity, "2027")
        if line.kind == "adjustment" and line.family == "tasking"
    ][-1]
    assert short.reason.endswith(":short:200.00")
    assert "200.00 km² could not be taken back" in short.reason_text
    assert service.trial_balance() == 0


def test_profile_change_in_full_mode_and_its_refusals(ctx, mode):
    from dinamis.core.errors import Forbidden, ServiceError

    mode("full")
    _rules("research-fr", tasking="1200")
    _rules("public-fr", tasking="2000")
    staff = make_user("staff@dinamis.test", role="staff")
    entity = make_entity("Lab F", membership_start=dt.date(2026, 1, 1))
    public = make_profile("public-fr")
    day = dt.date(2027, 11, 5)
    # not opened yet for 2027: the change opens it under the old profile first
    changes = membership.change_profile(staff, entity, public.id, today=day)
    assert [(c.family, c.km2) for c in changes] == [("tasking", D("800.00"))]
    assert _granted(entity, "2027") == D("2000.00")
    with pytest.raises(ServiceError):
        membership.change_profile(staff, entity, public.id, today=day)
    with pytest.raises(ServiceError):
        membership.change_profile(staff, entity, 999_999, today=day)
    user = make_user("someone@lab-f.test", entity=entity)
    with pytest.raises(Forbidden):
        membership.change_profile(user, entity, make_profile("research-fr").id, today=day)


def test_staff_change_a_profile_from_the_entities_page(app, client, cast):
    with app.app_context():
        _rules("research-fr", tasking="1200")
        _rules("public-fr", tasking="2400")
        public_id = make_profile("public-fr").id
        commit()
    login(client, cast.staff)
    from tests.helpers import csrf_token

    page = client.get("/admin/entities").get_data(as_text=True)
    assert f'action="/admin/entities/{cast.entity_a}/profile"' in page
    token = csrf_token(client, "/admin/entities")
    response = client.post(
        f"/admin/entities/{cast.entity_a}/profile",
        data={"profile": str(public_id), "csrf_token": token},
    )
    assert response.status_code == 302
    again = client.post(
        f"/admin/entities/{cast.entity_a}/profile",
        data={"profile": str(public_id), "csrf_token": token},
    )
    assert again.status_code == 422
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        assert entity.profile.code == "public-fr"
