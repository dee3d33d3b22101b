"""Staff statistics: figures cross-checked against the ledger, the orders and the download log."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from dinamis.accounts import service as accounts
from dinamis.catalogue.models import Download
from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders.models import Delivery, Order
from dinamis.quota import service as quota
from dinamis.reports import stats, views
from tests.conftest import login
from tests.reports.test_usage_reports import delivered  # noqa: F401 - the fixture

D = Decimal
YEAR = str(scheme_today().year)


@pytest.fixture
def busy(app, cast, delivered):  # noqa: F811
    """Entity A: one delivered order; entity B: an allowance; three downloads."""
    with app.app_context():
        quota.grant(db.session.get(Entity, cast.entity_b), "tasking", YEAR, D("500"))
        user_a = accounts.get_user_by_email(cast.user_a)
        user_b = accounts.get_user_by_email(cast.user_b)
        for user, size in ((user_a, 1000), (user_a, 24), (user_b, 5)):
            db.session.add(
                Download(
                    user_id=user.id,
                    entity_id=user.entity_id,
                    scene_id="DELIV_1",
                    collection_id="phr",
                    asset="data",
                    bytes=size,
                )
            )
        commit()
        return delivered


def test_ledger_figures_match_the_quota_balances(app, cast, busy):
    with app.app_context():
        f = stats.Filters(period=YEAR)
        by_entity = {r["group"]: r for r in stats.ledger(f, "entity")}
        for entity_id in (cast.entity_a, cast.entity_b):
            entity = db.session.get(Entity, entity_id)
            (balance,) = [b for b in quota.balances(entity) if b.period == YEAR]
            row = by_entity[entity.name]
            assert row["granted_km2"] == balance.granted
            assert row["consumed_km2"] == balance.consumed
            assert row["reserved_km2"] == balance.reserved
        delivered_km2 = db.session.scalar(select(func.sum(Delivery.km2)))
        order = db.session.get(Order, busy)
        assert by_entity["Laboratoire A"]["consumed_km2"] + by_entity["Laboratoire A"][
            "cofunded_km2"
        ] == min(delivered_km2, order.charged_km2)
        # Every grouping adds up to the same totals.
        totals = []
        for group in stats.GROUPS:
            rows = stats.ledger(f, group)
            totals.append(sum((r["consumed_km2"] for r in rows), D("0")))
        assert len(set(totals)) == 1 and totals[0] > 0
        by_profile = {r["group"]: r for r in stats.ledger(stats.Filters(YEAR), "profile")}
        assert by_profile["research-fr"]["granted_km2"] == by_entity["Laboratoire A"]["granted_km2"]
        only_public = stats.ledger(stats.Filters(YEAR, profile="public-fr"), "entity")
        assert [r["group"] for r in only_public] == ["Agence B"]


def test_orders_and_downloads_match_their_tables(app, cast, busy):
    with app.app_context():
        f = stats.Filters(period=YEAR)
        states = {r["status"]: r["orders"] for r in stats.orders_by_state(f)}
        assert states == {"delivered": 1}
        (row,) = stats.downloads(f)
        assert row["downloads"] == db.session.scalar(select(func.count()).select_from(Download))
        assert row["bytes"] == 1029
        (mine,) = stats.downloads(stats.Filters(YEAR, entity_id=cast.entity_a))
        assert (mine["downloads"], mine["bytes"]) == (2, 1024)
        activity = stats.activity(f)
        assert activity["active_entities"] == 2 and activity["active_users"] == 4


def test_statistics_are_planned_for_their_filters(app, cast, busy):
    """The dashboard's statements are never prepared (a generic plan would ignore
    the filters): run more than psycopg's five times, none is in the session's
    prepared statements."""
    from sqlalchemy import text

    with app.app_context():
        for entity in (None, cast.entity_a) * 6:
            f = stats.Filters(period=YEAR, entity_id=entity)
            for group in ("entity", "profile", "sensor", "family"):
                stats.ledger(f, group)
            stats.orders_by_state(f)
            stats.downloads(f)
            stats.activity(f)
        prepared = text(
            "SELECT statement FROM pg_prepared_statements"
            " WHERE statement ~ 'totals|downloads|order_events|GROUP BY'"
        )
        assert list(db.session.scalars(prepared)) == []


def test_dashboard_csv_and_api_are_staff_only(app, client, cast, busy):
    login(client, cast.staff)
    page = client.get(f"/reports/stats?period={YEAR}&profile=research-fr&group_by=entity")
    assert page.status_code == 200 and "<svg" in page.get_data(as_text=True)
    # "all" agrees with each filter's noun in French (the staff's language)
    html = page.get_data(as_text=True)
    assert re.search(r'id="sensor" name="sensor"><option value="">tous<', html)
    assert re.search(r'id="family" name="family"><option value="">toutes<', html)
    exported = client.get(f"/reports/stats/ledger.csv?period={YEAR}&group_by=profile")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {r["group"] for r in rows} == {"research-fr", "public-fr"}
    assert client.get("/reports/stats?period=20xx").status_code == 400
    assert client.get("/reports/stats?group_by=colour").status_code == 400
    member = app.test_client()
    login(member, cast.referent_a)
    assert member.get("/reports/stats").status_code == 403
    with app.app_context():
        _t, staff_token = accounts.create_api_token(accounts.get_user_by_email(cast.staff), "s")
        _t, user_token = accounts.create_api_token(accounts.get_user_by_email(cast.user_a), "u")
        commit()
    api = client.get(
        f"/api/v1/stats?period={YEAR}&group_by=sensor",
        headers={"Authorization": f"Bearer {staff_token}"},
    ).get_json()
    assert api["ledger"][0]["group"] == "pleiades" and D(api["ledger"][0]["consumed_km2"]) > 0
    refused = client.get("/api/v1/stats", headers={"Authorization": f"Bearer {user_token}"})
    assert refused.status_code == 403


def test_reports_api(app, client, cast, busy):
    with app.app_context():
        _t, token = accounts.create_api_token(accounts.get_user_by_email(cast.user_a), "u")
        commit()
    headers = {"Authorization": f"Bearer {token}"}
    bad = client.post(
        "/api/v1/reports",
        json={"order_id": busy, "publications": [{"title": "T", "year": 2026, "doi": "10.1/x"}]},
        headers=headers,
    )
    assert bad.status_code == 422 and "publications.0" in bad.get_json()["error"]["fields"]
    done = client.post(
        "/api/v1/reports",
        json={
            "order_id": busy,
            "themes": ["coast"],
            "benefit": "Erosion plan",
            "publications": [{"title": "Dunes", "year": 2026, "doi": "10.1234/d"}],
            "submit": True,
        },
        headers=headers,
    )
    assert done.status_code == 201 and done.get_json()["status"] == "submitted"
    again = client.post("/api/v1/reports", json={"order_id": busy}, headers=headers)
    assert again.status_code == 409
    future = client.post("/api/v1/reports", json={"year": 2999}, headers=headers)
    assert future.status_code == 422
    listed = client.get("/api/v1/reports", headers=headers).get_json()["reports"]
    assert [r["status"] for r in listed] == ["submitted"]


def _pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_yearly_pdfs(app, client, cast, busy, tmp_path):
    """The Referent's usage page; the yearly PDFs by the CLI (on the queue for the web:
    tests/reports/test_yearly_documents.py)."""
    referent = app.test_client()
    login(referent, cast.referent_a)
    usage = referent.get(f"/reports/entity?period={YEAR}").get_data(as_text=True)
    # its downloads by collection, named by the collection's title
    assert "DELIV" not in usage and '<th scope="row">Pléiades</th>' in usage
    chart = usage[usage.index('<svg class="chart"') : usage.index("</svg>")]
    # the chart names the families as the table does, in the user's language (French here)
    assert re.findall(r">([^<>]+)</text>", chart)[0] == "programmation"
    result = app.test_cli_runner().invoke(
        args=["reports", "yearly", YEAR, "--entity", str(cast.entity_a), "--output", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    written = tmp_path / f"dinamis-{YEAR}-entity-{cast.entity_a}.pdf"
    assert "Laboratoire A" in _pdf_text(written.read_bytes())
    missing = app.test_cli_runner().invoke(args=["reports", "yearly", YEAR, "--entity", "999999"])
    assert missing.exit_code != 0 and "no entity" in missing.output


def test_bars_draw_the_largest_and_sum_the_others():
    rows = [{"group": f"E{i:02}", "km2": D(i)} for i in range(1, 26)]
    assert [b["label"] for b in stats.bars(rows, "group", "km2")["bars"]] == [
        r["group"] for r in rows
    ]  # no cut: every row, in the table's order
    with force_locale("en"):
        chart = stats.bars(rows, "group", "km2", top=20)
    assert chart["others"] == 5 and len(chart["bars"]) == 21
    assert [b["label"] for b in chart["bars"][:3]] == ["E25", "E24", "E23"]
    assert chart["bars"][-1]["label"] == "Others (5)"
    assert chart["bars"][-1]["value"] == sum(D(i) for i in range(1, 6))
    assert chart["bars"][0]["w"] == 220.0  # the largest bar spans the chart


def test_dashboard_chart_keeps_every_group_in_the_table(app, client, cast, busy, monkeypatch):
    monkeypatch.setattr(views, "CHART_BARS", 1)
    login(client, cast.staff)
    page = client.get(f"/reports/stats?period={YEAR}&group_by=entity").get_data(as_text=True)
    chart = page[page.index("<svg") : page.index("</svg>")]
    assert chart.count("<rect") == 2 and "Laboratoire A" in chart and "Agence B" not in chart
    table = page[page.index("</svg>") : page.index('id="orders"')]
    assert "Laboratoire A" in table and "Agence B" in table
    with app.app_context():
        entity_options = page[page.index('id="entity"') : page.index('id="sensor"')]
        assert entity_options.count("<option") == 1 + db.session.scalar(
            select(func.count()).select_from(Entity)
        )


def test_dashboard_keeps_the_chosen_entity_selected(app, client, cast, busy):
    login(client, cast.staff)
    page = client.get(f"/reports/stats?period={YEAR}&entity={cast.entity_b}").get_data(as_text=True)
    assert f'<option value="{cast.entity_b}" selected>Agence B</option>' in page
    assert f'<option value="{cast.entity_a}">Laboratoire A</option>' in page
