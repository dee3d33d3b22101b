"""Usage reports: drafts, DOIs, submission, review, visibility, deadlines, reminders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from dinamis.accounts import service as accounts
from dinamis.catalogue.ingest import Report, load
from dinamis.core.dates import today as scheme_today
from dinamis.core.errors import Conflict, Forbidden, ServiceError
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders import service as orders
from dinamis.quota import service as quota
from dinamis.reports import service
from dinamis.reports.models import UsageReport
from tests.conftest import login
from tests.helpers import csrf_token, outbox
from tests.orders.helpers import tasking

D = Decimal


@pytest.fixture
def delivered(app, cast):
    """user.a's order, accepted and delivered as catalogue scene DELIV_1; its id."""
    with app.app_context():
        report = Report()
        load(
            [
                (
                    "t",
                    {
                        "type": "Collection",
                        "id": "phr",
                        "title": "Pléiades",
                        "license": "x",
                        "dinamis": {"access": "members", "sensor_family": "pleiades"},
                    },
                ),
                (
                    "t",
                    {
                        "type": "Feature",
                        "id": "DELIV_1",
                        "collection": "phr",
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[2, 45], [2.2, 45], [2.2, 45.2], [2, 45.2], [2, 45]]],
                        },
                        "properties": {
                            # acquired within the order's window (below)
                            "datetime": f"{scheme_today() + dt.timedelta(days=15)}T10:00:00Z"
                        },
                    },
                ),
            ],
            report,
        )
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "tasking", quota.period_for(scheme_today()), D("1000"))
        user = accounts.get_user_by_email(cast.user_a)
        staff = accounts.get_user_by_email(cast.staff)
        today = scheme_today()
        order = orders.submit_tasking(
            user,
            tasking(
                window_start=today + dt.timedelta(days=10),
                window_end=today + dt.timedelta(days=40),
            ),
        )
        orders.review(staff, order, True, "ok")
        orders.deliver(staff, order, "DELIV_1")
        commit()
        return order.id


def _user(email):
    return accounts.get_user_by_email(email)


def test_doi_syntax():
    assert (
        service.normalise_doi("https://doi.org/10.1016/j.rse.2020.111") == "10.1016/j.rse.2020.111"
    )
    assert service.normalise_doi("doi:10.5194/isprs-2021") == "10.5194/isprs-2021"
    for bad in ("10.12/x", "11.1234/x", "10.1234", "not a doi", "10.1234/ has space"):
        with pytest.raises(ServiceError):
            service.normalise_doi(bad)


def test_order_report_from_draft_to_accepted(app, cast, delivered):
    with app.app_context():
        user, staff = _user(cast.user_a), _user(cast.staff)
        order = db.session.get(orders.Order, delivered)
        report = service.start_for_order(user, order)
        assert report.scene_ids == ["DELIV_1"] and report.project == order.project_title
        assert service.start_for_order(user, order).id == report.id  # one per order
        with pytest.raises(Forbidden):  # someone else's order
            service.start_for_order(_user(cast.user_b), order)
        content = service.ReportContent(
            project="Coast",
            themes=["coast"],
            scene_ids=["DELIV_1"],
            benefit="Erosion plan",
            publications=[("Dunes", 2026, "https://doi.org/10.1234/dunes.1")],
        )
        service.save(user, report, content)
        assert report.publications[0].doi == "10.1234/dunes.1"
        service.submit(user, report)
        with pytest.raises(Conflict):  # read-only once submitted
            service.save(user, report, content)
        with pytest.raises(ServiceError) as no_reason:  # a reason is needed to send it back
            service.review(staff, report, False, " ")
        assert "comment" in no_reason.value.fields
        service.review(staff, report, False, "Add the products.")
        assert report.status == "returned" and report.editable
        service.save(
            user, report, service.ReportContent(**{**content.__dict__, "products": "Maps"})
        )
        service.submit(user, report)
        service.review(staff, report, True, "")
        assert report.status == "accepted"
        commit()
    mails = outbox(app, cast.user_a)
    subjects = [m.subject for m in mails]
    assert sum("compte rendu" in s or "usage report" in s for s in subjects) == 2  # back, accepted


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"publications": [("T", 2026, "10.12/x")]}, "publications.0"),
        ({"publications": [("T", scheme_today().year + 1, "")]}, "publications.0"),
        ({"publications": [("", 2020, "")]}, "publications.0"),
        ({"themes": ["astrology"]}, "themes"),
        ({"scene_ids": ["SOMEONE_ELSES"]}, "scene_ids"),
    ],
)
def test_bad_content_is_refused_and_nothing_changes(app, cast, delivered, changes, field):
    with app.app_context():
        user = _user(cast.user_a)
        report = service.start_for_order(user, db.session.get(orders.Order, delivered))
        before = (report.project, list(report.themes), list(report.scene_ids))
        content = service.ReportContent(**{"project": "New", "themes": ["coast"], **changes})
        with pytest.raises(ServiceError) as refused:
            service.save(user, report, content)
        assert field in refused.value.fields
        assert (report.project, list(report.themes), list(report.scene_ids)) == before


def test_annual_reports_and_deadlines(app, cast):
    with app.app_context():
        user = _user(cast.user_a)
        this_year = scheme_today().year
        with pytest.raises(ServiceError) as future:
            service.start_annual(user, this_year + 1)
        assert "year" in future.value.fields
        report = service.start_annual(user, this_year - 1)
        assert service.start_annual(user, this_year - 1).id == report.id
        assert report.due_on == dt.date(this_year, 3, 31)
        late = service.start_annual(user, this_year - 3)
        assert late.overdue_on(scheme_today())
        assert service.overdue_entities()[cast.entity_a] >= 1
        assert service.remind() >= 1
        assert service.remind() == 0  # not twice in a week
        with pytest.raises(ServiceError) as incomplete:
            service.submit(user, report)
        assert set(incomplete.value.fields) == {"project", "themes", "benefit"}


def test_web_journey_and_visibility(app, client, cast, delivered):
    login(client, cast.user_a)
    page = client.get("/reports/").get_data(as_text=True)
    assert "T-0" in page  # the delivered order waits for its report
    token = csrf_token(client, "/support/new")
    started = client.post("/reports/start", data={"csrf_token": token, "order_id": str(delivered)})
    assert started.status_code == 302
    url = started.headers["Location"]
    form = {
        "csrf_token": token,
        "project": "Coast watch",
        "themes": ["coast", "risks"],
        "scene_ids": ["DELIV_1"],
        "benefit": "Used by the regional erosion plan.",
        "pub-0-title": "Dune retreat",
        "pub-0-year": "2026",
        "pub-0-doi": "10.12/bad",
        "action": "save",
    }
    refused = client.post(url, data=form)
    assert refused.status_code == 422
    kept = refused.get_data(as_text=True)
    assert "Coast watch" in kept and "10.12/bad" in kept  # nothing typed is lost
    form["pub-0-doi"] = "10.1234/dune.2026"
    assert client.post(url, data={**form, "action": "submit"}).status_code == 302
    shown = client.get(url).get_data(as_text=True)
    assert "https://doi.org/10.1234/dune.2026" in shown and 'name="project"' not in shown
    # the list names the report's order by its number, as everywhere else
    listed = client.get("/reports/").get_data(as_text=True)
    assert f"T-{delivered:06d} · Coast watch" in listed and f"#{delivered}" not in listed
    other = app.test_client()
    login(other, cast.user_b)
    assert other.get(url).status_code == 403
    referent = app.test_client()
    login(referent, cast.referent_a)
    assert referent.get(url).status_code == 200
    staff = app.test_client()
    login(staff, cast.staff)
    staff_token = csrf_token(staff, "/support/new")
    review = url + "/review"
    assert client.post(review, data={"csrf_token": token, "decision": "accept"}).status_code == 403
    back = staff.post(review, data={"csrf_token": staff_token, "decision": "return", "comment": ""})
    assert back.status_code == 422
    staff.post(
        review, data={"csrf_token": staff_token, "decision": "return", "comment": "Products?"}
    )
    with app.app_context():
        report = db.session.scalars(select(UsageReport)).one()
        assert report.status == "returned"


def test_staff_see_overdue_reports_on_the_entity_orders(app, client, cast, delivered):
    with app.app_context():
        service.start_annual(_user(cast.user_a), scheme_today().year - 3)
        commit()
    login(client, cast.staff)
    page = client.get(f"/orders/{delivered}").get_data(as_text=True)
    assert "/reports/?status=overdue" in page


def test_remind_command(app, cast):
    with app.app_context():
        service.start_annual(_user(cast.user_a), scheme_today().year - 3)
        commit()
    result = app.test_cli_runner().invoke(args=["reports", "remind"])
    assert result.exit_code == 0 and "1 reminder(s) queued" in result.output
