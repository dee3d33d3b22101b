"""A refused form says at each wrong field what to fix, all at once (issue 14.4, 14.5)."""

from __future__ import annotations

import re

from dinamis.accounts import service as accounts
from dinamis.core.dates import today as scheme_today
from dinamis.extensions import db
from dinamis.orders.models import Order
from dinamis.reports import service as reports
from tests.api.test_orders_api import archive_scenes  # noqa: F401 - the fixture
from tests.conftest import login
from tests.helpers import form_tokens
from tests.membership.test_membership import DETAILS, _link, documents  # noqa: F401
from tests.reports.test_usage_reports import delivered  # noqa: F401 - the fixture


def _error(html: str, field_id: str) -> str:
    found = re.search(rf'id="{re.escape(field_id)}-error">([^<]*)<', html)
    return found.group(1) if found else ""


def _account(client, cast, **changes):
    data = {
        **form_tokens(client, "/join/account?q=Laboratoire"),
        "entity": str(cast.entity_a),
        "email": "new.person@labo-a.test",
        "first_name": "Nina",
        "last_name": "New",
        "permanent": "y",
    }
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post("/join/account?q=Laboratoire", data=data)


def test_an_account_request_without_entity_or_box_says_why(app, client, cast):
    no_entity = _account(client, cast, entity=None)
    assert no_entity.status_code == 422
    html = no_entity.get_data(as_text=True)
    assert "Cherchez votre entité et choisissez-la dans la liste." in _error(html, "entity")
    assert "Certains champs sont à corriger" in html
    no_box = _account(client, cast, permanent=None)
    assert no_box.status_code == 422
    assert "Cochez cette case" in _error(no_box.get_data(as_text=True), "permanent")


def test_an_account_request_shows_every_problem_at_once(app, client, cast):
    response = _account(client, cast, entity=None, permanent=None, email="nina@gmail.com")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert _error(html, "entity") and _error(html, "permanent")
    assert "professionnelle" in _error(html, "email")  # the webmail rule, beside the others
    # The rule itself reports every field (the API and the web call it).
    with app.test_request_context():
        from dinamis.membership import members

        errors = members.check_account_request(
            email="nina@gmail.com", first_name=" ", last_name="", entity_id=None
        )
    assert set(errors) == {"email", "entity", "first_name", "last_name"}


def test_membership_details_show_the_siret_and_the_email_errors_together(
    app,
    client,
    cast,
    documents,  # noqa: F811
):
    data = {
        **form_tokens(client, "/join"),
        "email": "rita@lab-new.test",
        "first_name": "Rita",
        "last_name": "New",
    }
    assert client.post("/join", data=data).status_code == 200
    path = _link(app, "rita@lab-new.test", "/join/details/")
    response = client.post(
        path,
        data={
            **DETAILS,
            **form_tokens(client, path),
            "national_id": "12345678901234",
            "legal_rep_email": "not-an-address",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "SIRET" in _error(html, "national_id")
    assert _error(html, "legal_rep_email")
    # A webmail address (the service's rule) and a wrong SIRET: both too.
    response = client.post(
        path,
        data={
            **DETAILS,
            **form_tokens(client, path),
            "national_id": "12345678901234",
            "legal_rep_email": "boss@gmail.com",
        },
    )
    html = response.get_data(as_text=True)
    assert "SIRET" in _error(html, "national_id") and _error(html, "legal_rep_email")


def test_the_start_of_a_membership_request_shows_every_problem(app, client):
    data = {**form_tokens(client, "/join"), "email": "rita@gmail.com", "first_name": ""}
    html = client.post("/join", data=data).get_data(as_text=True)
    assert _error(html, "email") and _error(html, "first_name") and _error(html, "last_name")


def test_a_usage_report_checks_the_doi_even_when_the_year_is_wrong(app, cast, delivered):  # noqa: F811
    with app.test_request_context():
        user = accounts.get_user_by_email(cast.user_a)
        report = reports.start_for_order(user, db.session.get(Order, delivered))
        content = reports.ReportContent(
            project="",
            themes=[],
            benefit="",
            publications=[("Dunes", "20x6", "not a doi")],
        )
        try:
            reports.save(user, report, content, submitting=True)
        except reports.ServiceError as error:
            fields = error.fields
        else:
            raise AssertionError("refused")
    assert {"publications.0.year", "publications.0.doi", "publications.0"} <= set(fields)
    assert {"project", "themes", "benefit"} <= set(fields)  # submission's needs, at once


def test_the_report_form_shows_year_and_doi_errors_at_their_fields(
    app,
    client,
    cast,
    delivered,  # noqa: F811
):
    login(client, cast.user_a)
    start = client.post(
        "/reports/start", data={**form_tokens(client, "/support/new"), "order_id": delivered}
    )
    path = start.headers["Location"]
    response = client.post(
        path,
        data={
            **form_tokens(client, path),
            "project": "Coast",
            "themes": "coast",
            "benefit": "",
            "pub-0-title": "Dunes",
            "pub-0-year": "3000",
            "pub-0-doi": "nope",
            "action": "submit",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert _error(html, "pub-0-year") and _error(html, "pub-0-doi")
    assert "a apporté aux politiques publiques" in html  # needed to submit: asked at once


def test_the_tasking_form_shows_the_rules_with_the_missing_fields(app, client, cast):

    from tests.orders.test_web import _form, _setup

    _setup(app, cast)
    login(client, cast.user_a)
    today = scheme_today().isoformat()
    response = client.post(
        "/orders/tasking/new",
        data={**_form(client, side=0.01), "project_title": "", "window_start": today},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert _error(html, "project_title")  # the form's own check
    assert "au plus tôt" in _error(html, "window_start") or _error(html, "window_start")
    assert "km²" in _error(html, "aoi")  # too small: the rule, at the same time
    no_area = client.post("/orders/tasking/new", data={**_form(client), "aoi": "", "theme": "x"})
    html = no_area.get_data(as_text=True)
    assert _error(html, "aoi") and _error(html, "theme")


def test_an_entity_id_too_large_for_postgresql_is_a_message_not_a_500(client, cast):
    response = _account(client, cast, entity=str(2**40), first_name="")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert _error(html, "entity") and _error(html, "first_name")


def test_an_anonymous_support_request_shows_every_missing_field(client):
    data = {**form_tokens(client, "/support/new"), "subject": "", "category": "catalogue"}
    response = client.post("/support/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    # subject and body (the form's checks) with e-mail and name (the service's), at once
    for field in ("subject", "body", "email", "name"):
        assert _error(html, field), field


def test_the_archive_form_names_the_scene_problems_with_the_missing_fields(
    app,
    client,
    cast,
    archive_scenes,  # noqa: F811
):
    login(client, cast.user_a)
    path = "/orders/archive/new?scenes=ARC_1,OPEN_1"
    response = client.post(
        "/orders/archive/new",
        data={**form_tokens(client, path), "scenes": "ARC_1,OPEN_1", "theme": "water"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert _error(html, "project_title")
    assert ("OPEN_1" in html and "commandable" in html.lower()) or "orderable" in html.lower()
