"""The quota page, its CSV statement and staff adjustments, through the web."""

from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal

from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.quota import service
from tests.conftest import login
from tests.helpers import written


def _grant(app, cast, amount="2000"):
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        service.grant(entity, "tasking", "2027", Decimal(amount))
        service.reserve(entity, "tasking", "2027", Decimal("120.5"), "order:1")
        commit()


def test_member_sees_own_entity_quota_and_statement(app, client, cast):
    _grant(app, cast)
    login(client, cast.user_a)
    response = client.get(f"/quota/{cast.entity_a}?period=2027")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for figure in ("2000.00", "1879.50", "120.50"):  # in French, as the page speaks
        assert written(app, Decimal(figure)) in page
    assert "<meter" in page
    assert 'action="/quota/' not in page  # no adjustment form for a user
    # The grant's stored reason code is shown as words, in the user's language.
    cells = re.findall(r"<td>([^<]*)</td>", page)
    assert "allowance" not in cells
    assert {
        "allowance of the entity's profile, in full",
        "dotation du profil de l'entité, entière",
    } & {html.unescape(c) for c in cells}
    assert client.get("/quota/").headers["Location"].endswith(f"/quota/{cast.entity_a}")

    export = client.get(f"/quota/{cast.entity_a}/statement.csv?period=2027")
    assert export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert [r["posting"] for r in rows] == ["grant", "reserve"]
    assert rows[1]["available"] == "-120.50" and rows[1]["reserved"] == "120.50"


def test_other_entity_quota_is_refused(app, client, cast):
    _grant(app, cast)
    login(client, cast.referent_b)
    assert client.get(f"/quota/{cast.entity_a}").status_code == 403
    assert client.get(f"/quota/{cast.entity_a}/statement.csv").status_code == 403
    assert client.get("/quota/999999").status_code == 404


def test_anonymous_is_sent_to_login(client, cast):
    response = client.get(f"/quota/{cast.entity_a}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_bad_period_is_a_clear_400(client, cast):
    login(client, cast.user_a)
    response = client.get(f"/quota/{cast.entity_a}?period=twenty")
    assert response.status_code == 400


def _adjust_form(client, entity_id):
    page = client.get(f"/quota/{entity_id}?period=2027").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    key = re.search(r'<input[^>]*name="key"[^>]*value="([^"]+)"', page).group(1)
    return token, key


def test_staff_adjusts_with_a_reason_and_a_double_submit_counts_once(app, client, cast):
    _grant(app, cast)
    login(client, cast.staff)
    token, key = _adjust_form(client, cast.entity_a)
    data = {
        "csrf_token": token,
        "key": key,
        "family": "tasking",
        "period": "2027",
        "amount": "250.25",
        "reason": "Extra coastal project",
    }
    assert client.post(f"/quota/{cast.entity_a}/adjust", data=data).status_code == 302
    assert client.post(f"/quota/{cast.entity_a}/adjust", data=data).status_code == 302
    with app.app_context():
        (b,) = service.balances(db.session.get(Entity, cast.entity_a))
        assert b.granted == Decimal("2250.25")


def test_invalid_adjustments_change_nothing(app, client, cast):
    _grant(app, cast, "100")
    login(client, cast.staff)
    token, key = _adjust_form(client, cast.entity_a)
    base = {"csrf_token": token, "key": key, "family": "tasking", "period": "2027"}
    too_much = client.post(
        f"/quota/{cast.entity_a}/adjust", data={**base, "amount": "-500", "reason": "oops"}
    )
    assert too_much.status_code == 422
    no_reason = client.post(f"/quota/{cast.entity_a}/adjust", data={**base, "amount": "5"})
    assert no_reason.status_code == 422
    bad_period = client.post(
        f"/quota/{cast.entity_a}/adjust",
        data={**base, "period": "27", "amount": "5", "reason": "x"},
    )
    assert bad_period.status_code == 422
    with app.app_context():
        (b,) = service.balances(db.session.get(Entity, cast.entity_a))
        assert b.granted == Decimal("100.00")


def test_users_and_referents_cannot_adjust(app, client, cast):
    _grant(app, cast)
    login(client, cast.referent_a)
    page = client.get(f"/quota/{cast.entity_a}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        f"/quota/{cast.entity_a}/adjust",
        data={
            "csrf_token": token,
            "key": "k",
            "family": "tasking",
            "period": "2027",
            "amount": "5",
            "reason": "self-service",
        },
    )
    assert response.status_code == 403
