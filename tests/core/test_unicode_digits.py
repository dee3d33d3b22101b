"""Numbers typed with other digits than 0-9 ("²", "٣") or years out of the calendar
are refused with a message, never a 500.

`str.isdigit()` says yes to "²" (a superscript two) but `int("²")` raises: each of
these answered 500 before (found by the edges sweep of the portal, ?entity=² in a
list's address, a forged form field).
"""

from __future__ import annotations

import datetime as dt

import pytest

from dinamis.accounts import service as accounts
from dinamis.core.transaction import commit
from dinamis.quota import service as quota
from tests.conftest import login
from tests.helpers import csrf_token

SQUARE = "²"


@pytest.mark.parametrize(
    "path",
    [
        f"/orders/?entity={SQUARE}",
        f"/reports/stats?entity={SQUARE}",
        f"/reports/stats?period={SQUARE * 4}",
        f"/reports/stats/ledger.csv?entity={SQUARE}",
        "/reports/stats?period=0000",
        "/reports/stats?period=9999",  # the day after the period is beyond the calendar
        "/reports/stats/ledger.csv?period=9999-Q4",
    ],
)
def test_a_filter_in_other_digits_or_years_is_not_a_500(app, client, cast, path):
    login(client, cast.staff)
    response = client.get(path)
    assert response.status_code in (400, 404), (path, response.status_code)


def test_a_referents_entity_filter_in_other_digits_is_a_400(app, client, cast):
    login(client, cast.referent_a)
    assert client.get(f"/reports/entity?entity={SQUARE}").status_code == 400


def test_the_periods_at_the_ends_of_the_calendar(app):
    with app.test_request_context():
        assert quota.period_bounds("0001") == (dt.date(1, 1, 1), dt.date(1, 12, 31))
        assert quota.period_bounds("9998-Q4") == (dt.date(9998, 10, 1), dt.date(9998, 12, 31))
        assert quota.validate_period("2027-Q2") == "2027-Q2"


@pytest.mark.parametrize(
    "period", ["0000", "0000-Q1", "9999", "9999-Q4", "2027-", SQUARE * 4, "٢٠٢٧"]
)
def test_a_period_outside_the_calendar_or_in_other_digits_is_refused(app, period):
    from dinamis.core.errors import ServiceError

    with app.test_request_context(), pytest.raises(ServiceError):
        quota.validate_period(period)


def test_a_quota_adjustment_for_year_0000_is_refused_at_the_field(app, client, cast):
    from tests.quota.test_views import _adjust_form

    login(client, cast.staff)
    token, key = _adjust_form(client, cast.entity_a)
    response = client.post(
        f"/quota/{cast.entity_a}/adjust",
        data={
            "csrf_token": token,
            "key": key,
            "family": "tasking",
            "period": "0000",
            "amount": "10",
            "reason": "Typo in the year",
        },
    )
    assert response.status_code == 422
    assert 'id="period-error"' in response.get_data(as_text=True)


def test_a_forged_assignee_in_other_digits_is_a_400(app, client, cast):
    from dinamis.support import service as support

    with app.app_context():
        user = accounts.get_user_by_email(cast.user_a)
        ticket = support.open_ticket(user, support.Draft(category="other", subject="S", body="B"))
        commit()
        ticket_id = ticket.id
    login(client, cast.staff)
    token = csrf_token(client, f"/support/{ticket_id}")
    response = client.post(
        f"/support/{ticket_id}/assign", data={"csrf_token": token, "assignee": SQUARE}
    )
    assert response.status_code == 400


@pytest.mark.parametrize("field", [{"order_id": SQUARE}, {"year": SQUARE}])
def test_starting_a_report_with_other_digits_is_not_a_500(app, client, cast, field):
    login(client, cast.user_a)
    token = csrf_token(client, "/reports/")
    response = client.post("/reports/start", data={"csrf_token": token, **field})
    assert response.status_code in (400, 422)


def test_the_tasking_preview_says_a_number_in_other_digits_is_not_one(app, client, cast):
    login(client, cast.user_a)
    token = csrf_token(client, "/orders/tasking/new")
    square = {
        "type": "Polygon",
        "coordinates": [[[1.0, 43.0], [1.2, 43.0], [1.2, 43.1], [1.0, 43.1], [1.0, 43.0]]],
    }
    response = client.post(
        "/orders/coverage",
        json={"aoi": square, "max_cloud_cover": SQUARE, "max_incidence": "12"},
        headers={"X-CSRFToken": token, "Accept-Language": "en"},
    )
    assert response.status_code == 200
    assert set(response.json["limits"]) == {"max_cloud_cover"}
