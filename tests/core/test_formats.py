"""Numbers and dates follow the reader's locale; CSV keeps machine formats
(issue 14, item 12)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import render_template_string
from flask_babel import force_locale

from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.quota import service
from tests.conftest import login

PAGE = (
    "{{ area }} km² · {{ day }} · {{ at|datetimeformat('short') }} · "
    "{{ _('Issued on %(date)s · valid until %(until)s', date=day, until=day) }} · "
    "{{ _('%(n)d scene(s) match.', n=1234) }}"
)


def _render(app, language):
    with app.test_request_context("/"), force_locale(language):
        return render_template_string(
            PAGE,
            area=Decimal("1234.50"),
            day=dt.date(2026, 12, 8),
            at=dt.datetime(2026, 12, 5, 20, 21, tzinfo=dt.UTC),
        )


def test_templates_write_numbers_and_dates_as_the_reader_does(app):
    french = _render(app, "fr")
    assert "1\u202f234,50 km²" in french
    assert "8 déc. 2026" in french and "2026-12-08" not in french
    assert "5 déc. 2026" in french and "20:21" in french
    assert "Émis le 8 déc. 2026" in french
    assert "1234 scène" in french  # a count given to %(n)d stays a plain integer
    english = _render(app, "en")
    assert "1,234.50 km²" in english and "Dec 8, 2026" in english
    assert "12/5/26" not in english and "Dec 5, 2026" in english


def test_the_quota_page_in_each_language_and_the_csv_in_machine_format(app, client, cast):
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_b)
        service.grant(entity, "tasking", "2027", Decimal("2000"))
        service.reserve(entity, "tasking", "2027", Decimal("120.5"), "order:1")
        commit()
    login(client, cast.user_b)  # reads English
    english = client.get(f"/quota/{cast.entity_b}?period=2027").get_data(as_text=True)
    assert "2,000.00" in english and "1,879.50" in english
    client = app.test_client()
    login(client, cast.referent_b)
    client.post("/language", data={"language": "fr", "csrf_token": _token(client)})
    french = client.get(f"/quota/{cast.entity_b}?period=2027").get_data(as_text=True)
    assert "2\u202f000,00" in french and "1\u202f879,50" in french and "2,000.00" not in french
    export = client.get(f"/quota/{cast.entity_b}/statement.csv?period=2027")
    text = export.get_data(as_text=True)
    assert "2000.00" in text and "120.50" in text and "2\u202f000" not in text
    assert ",".join(["", ""]) in text  # still comma-separated


def _token(client):
    from tests.helpers import csrf_token

    return csrf_token(client, "/")
