"""LIKE wildcards typed by people, CSV formulas, download file names (RFC 6266)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from flask_babel import force_locale

from dinamis.core.dates import today as scheme_today
from dinamis.core.exports import content_disposition, csv_text, neutralise
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.orders import service as orders
from dinamis.quota import service as quota
from dinamis.quota.models import PriceRule
from tests.conftest import login
from tests.factories import make_entity, make_user
from tests.orders.helpers import TODAY, tasking

D = Decimal


# LIKE -------------------------------------------------------------------------


def test_percent_and_underscore_in_the_entity_search_are_characters(client, cast):
    with client.application.app_context():
        make_entity("Institut 100% Sols", profile_code="research-fr")
        commit()
    everything = client.get("/join/account?q=%").get_data(as_text=True)
    assert "Laboratoire A" not in everything and "Agence B" not in everything
    assert "Institut 100% Sols" in everything
    assert "Laboratoire A" not in client.get("/join/account?q=_").get_data(as_text=True)
    assert "Laboratoire A" in client.get("/join/account?q=labo").get_data(as_text=True)


def test_wildcards_in_the_order_search_are_characters(app):
    with app.app_context(), force_locale("en"):
        entity = make_entity("Lab L", profile_code="research-fr")
        db.session.add(
            PriceRule(
                profile_id=entity.profile_id,
                sensor="pleiades",
                order_kind="tasking",
                eur_per_km2=D("1.80"),
            )
        )
        user = make_user("user@lab-l.test", entity=entity)
        quota.grant(entity, "tasking", "2027", D("1000"))
        plain = orders.submit_tasking(user, tasking(project_title="Coastline"), today=TODAY)
        odd = orders.submit_tasking(user, tasking(project_title="Rate 50% snow_cover"), today=TODAY)
        assert orders.visible_orders(user, text="_") == [odd]
        assert orders.visible_orders(user, text="%") == [odd]
        assert orders.visible_orders(user, text="50%") == [odd]
        assert orders.visible_orders(user, text="0%s") == []
        assert orders.visible_orders(user, text="coast") == [plain]


# CSV formulas -----------------------------------------------------------------


def test_formula_cells_are_neutralised_and_numbers_kept():
    assert neutralise('=HYPERLINK("http://evil")') == '\'=HYPERLINK("http://evil")'
    for start in "=+-@\t\r":
        assert neutralise(start + "1+1") == "'" + start + "1+1"
    assert neutralise(Decimal("-150.00")) == Decimal("-150.00")
    assert neutralise("Laboratoire A") == "Laboratoire A"
    rows = list(csv.reader(io.StringIO(csv_text(["name", "km2"], [["@SUM(A1)", -3]]))))
    assert rows == [["name", "km2"], ["'@SUM(A1)", "-3"]]


def test_ledger_statement_csv_neutralises_a_reason(app, client, cast):
    from dinamis.accounts.service import get_user_by_email
    from dinamis.membership.models import Entity

    period = quota.period_for(scheme_today())
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "tasking", period, D("100"))
        staff = get_user_by_email(cast.staff)
        quota.adjust(staff, entity, "tasking", period, D("-40"), "=cmd|' /C calc'!A0", "k1")
        commit()
    login(client, cast.staff)
    response = client.get(f"/quota/{cast.entity_a}/statement.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    (adjustment,) = [r for r in rows if "calc" in r[6]]
    assert adjustment[6] == "'=cmd|' /C calc'!A0"
    assert "-40.00" in adjustment  # a number stays a number
    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''dinamis-quota-" in disposition


def test_statistics_csv_neutralises_entity_names(app, client, cast):
    from dinamis.reports import stats

    text = stats.to_csv([{"entity": "=2+5", "km2": Decimal("-4.00")}])
    assert list(csv.reader(io.StringIO(text))) == [["entity", "km2"], ["'=2+5", "-4.00"]]


# Content-Disposition ----------------------------------------------------------


def test_content_disposition_quotes_nothing_a_browser_could_misread():
    header = content_disposition('ev"il;.txt')
    assert header == "attachment; filename=\"ev_il;.txt\"; filename*=UTF-8''ev%22il%3B.txt"
    accented = content_disposition("relevé d'été.pdf", "inline")
    assert accented.startswith('inline; filename="relev_ d\'_t_.pdf"')
    assert accented.endswith("filename*=UTF-8''relev%C3%A9%20d%27%C3%A9t%C3%A9.pdf")
    assert "\\" not in content_disposition("a\\b.txt").split(";")[1]
    assert "\r" not in content_disposition("a\r\nSet-Cookie: x=1")


def test_a_support_attachment_keeps_its_name_without_breaking_the_header(app, client, cast):
    from dinamis.accounts.service import get_user_by_email
    from dinamis.support import service as support

    with app.app_context():
        user = get_user_by_email(cast.user_a)
        ticket = support.open_ticket(
            user,
            support.Draft(subject="Odd name", category="catalogue", body="See the file."),
            upload=support.Upload(filename='ev"il;été.txt', content=b"hello"),
        )
        attachment_id = ticket.messages[0].attachment.id
        commit()
    login(client, cast.user_a)
    download = client.get(f"/support/attachments/{attachment_id}")
    assert download.status_code == 200
    header = download.headers["Content-Disposition"]
    assert (
        header
        == "attachment; filename=\"ev_il;_t_.txt\"; filename*=UTF-8''ev%22il%3B%C3%A9t%C3%A9.txt"
    )
