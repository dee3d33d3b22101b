"""One-time form tokens: a form sent again (Back, a double click) shows its first result.

Every form that creates something carries a token; a resubmission of the same
form creates nothing, reserves nothing, and says what the first one made.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from decimal import Decimal

import pytest
from itsdangerous import TimestampSigner
from shapely.geometry import mapping
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from dinamis.core import idempotency
from dinamis.core.dates import today as scheme_today
from dinamis.core.idempotency import IdempotencyKey, hold
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import AccountRequest, Entity, MembershipRequest
from dinamis.orders.models import Delivery, Order
from dinamis.quota import service as quota
from dinamis.quota.models import LedgerEntry
from dinamis.reports.models import UsageReport
from dinamis.support.models import Ticket
from tests.api.test_orders_api import archive_scenes  # noqa: F401 - the fixture
from tests.conftest import login
from tests.helpers import csrf_token, form_tokens, outbox
from tests.membership.test_membership import DETAILS, _link, documents  # noqa: F401
from tests.orders.helpers import acquired, square
from tests.orders.test_web import _form, _setup
from tests.reports.test_usage_reports import delivered  # noqa: F401 - the fixture


def _count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _twice(client, path, data, **kwargs):
    first = client.post(path, data=dict(data), **kwargs)
    again = client.post(path, data=dict(data), **kwargs)
    return first, again


def test_a_tasking_request_sent_again_shows_the_first_and_reserves_nothing(app, client, cast):
    _setup(app, cast)
    login(client, cast.user_a)
    data = {**_form(client), **form_tokens(client, "/orders/tasking/new")}
    first = client.post("/orders/tasking/new", data=data)
    assert first.status_code == 302
    entries = _count(app, LedgerEntry)
    again = client.post("/orders/tasking/new", data=data)
    assert again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    with app.app_context():
        (order,) = db.session.scalars(select(Order)).all()
        number, order_id = order.number, order.id
    assert _count(app, LedgerEntry) == entries  # nothing reserved a second time
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert f'Cette demande a déjà été envoyée : <a href="/orders/{order_id}">{number}</a>' in page
    # A new form (a new token) is a new request.
    fresh = {**_form(client), **form_tokens(client, "/orders/tasking/new")}
    assert client.post("/orders/tasking/new", data=fresh).status_code == 302
    assert _count(app, Order) == 2


def test_the_message_says_what_was_made_in_the_users_language(app):
    earlier = idempotency.Earlier("T-000007", "/orders/7", {})
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert str(earlier.message()) == (
            'This request was already submitted: <a href="/orders/7">T-000007</a>.'
        )
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert "déjà été envoyée" in str(earlier.message())
    with app.test_request_context():
        assert "&lt;b&gt;" in str(idempotency.Earlier("<b>", None, {}).message())


def test_a_refused_submission_frees_its_token(app, client, cast):
    _setup(app, cast)
    login(client, cast.user_a)
    data = {**_form(client), **form_tokens(client, "/orders/tasking/new")}
    assert client.post("/orders/tasking/new", data={**data, "project_title": ""}).status_code == 422
    assert client.post("/orders/tasking/new", data=data).status_code == 302
    assert _count(app, Order) == 1


def test_an_archive_order_sent_again(app, client, cast, archive_scenes):  # noqa: F811
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "archive", quota.period_for(scheme_today()), Decimal("1000"))
        commit()
    login(client, cast.user_a)
    path = "/orders/archive/new?scenes=ARC_1"
    data = {
        **form_tokens(client, path),
        "scenes": "ARC_1",
        "project_title": "Wetlands",
        "project_description": "Mapping of wetlands.",
        "justification": "Summer images needed.",
        "theme": "water",
        "aoi": json.dumps(mapping(square(0.1, 2.1, 45.1))),
    }
    first, again = _twice(client, "/orders/archive/new", data)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert _count(app, Order) == 1


def test_a_membership_request_sent_again(app, client, cast, documents):  # noqa: F811
    data = {
        **form_tokens(client, "/join"),
        "email": "rita@lab-new.test",
        "first_name": "Rita",
        "last_name": "New",
    }
    first, again = _twice(client, "/join", data)
    assert first.status_code == again.status_code == 200
    assert "rita@lab-new.test" in again.get_data(as_text=True)
    assert _count(app, MembershipRequest) == 1
    assert len(outbox(app, to="rita@lab-new.test")) == 1
    path = _link(app, "rita@lab-new.test", "/join/details/")
    details = {**DETAILS, **form_tokens(client, path)}
    first, again = _twice(client, path, details)
    assert first.status_code == 200 and again.status_code == 200
    assert "Request sent" in again.get_data(as_text=True) or "envoy" in again.get_data(as_text=True)
    assert len(outbox(app, to=DETAILS["legal_rep_email"])) == 1


def test_an_account_request_sent_twice_shows_the_success(app, client, cast):
    """Issue 14.8: a double click on Send answered 'already waiting' though it went through."""
    data = {
        **form_tokens(client, "/join/account"),
        "entity": str(cast.entity_a),
        "email": "new.person@labo-a.test",
        "first_name": "Nina",
        "last_name": "New",
        "permanent": "y",
    }
    first, again = _twice(client, "/join/account", data)
    assert first.status_code == 200 and again.status_code == 200
    text = again.get_data(as_text=True)
    assert "new.person@labo-a.test" in text and "déjà en attente" not in text
    assert _count(app, AccountRequest) == 1
    assert len(outbox(app, to="new.person@labo-a.test")) == 1


def test_a_support_request_sent_again(app, client, cast):
    data = {
        **form_tokens(client, "/support/new"),
        "subject": "Cannot download",
        "category": "catalogue",
        "body": "The download stops at 50 %.",
        "email": "someone@labo-a.test",
        "name": "Someone",
    }
    first, again = _twice(client, "/support/new", data)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert _count(app, Ticket) == 1


def test_a_usage_report_submitted_again(app, client, cast, delivered):  # noqa: F811
    login(client, cast.user_a)
    start = client.post(
        "/reports/start", data={**form_tokens(client, "/support/new"), "order_id": delivered}
    )
    path = start.headers["Location"]
    data = {
        **form_tokens(client, path),
        "project": "Coast",
        "themes": "coast",
        "benefit": "Erosion plan",
        "action": "submit",
    }
    first, again = _twice(client, path, data)
    assert first.status_code == again.status_code == 302
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "déjà été envoyée" in page
    with app.app_context():
        assert db.session.scalars(select(UsageReport)).one().status == "submitted"


def test_a_delivery_recorded_again(app, client, cast):
    _setup(app, cast)
    login(client, cast.user_a)
    assert client.post("/orders/tasking/new", data=_form(client)).status_code == 302
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        order_id = order.id
    client = app.test_client()
    login(client, cast.staff)
    path = f"/orders/{order_id}"
    accepted = client.post(
        f"{path}/review/accept", data={"csrf_token": csrf_token(client, path), "comment": ""}
    )
    assert accepted.status_code == 302
    with app.app_context():
        acquired("PHR_1", square(0.3, 1.95, 44.95), scheme_today() + dt.timedelta(days=15))
        commit()
    data = {**form_tokens(client, path), "scene_id": "PHR_1"}
    first, again = _twice(client, f"{path}/deliveries", data)
    assert first.status_code == again.status_code == 302
    assert _count(app, Delivery) == 1


def test_a_forged_or_old_token_is_refused_with_a_message(app, client, cast, monkeypatch):
    _setup(app, cast)
    login(client, cast.user_a)
    data = {**_form(client), **form_tokens(client, "/orders/tasking/new")}
    forged = client.post("/orders/tasking/new", data={**data, "once": "x" + data["once"]})
    assert forged.status_code == 422 and "Rechargez la page" in forged.get_data(as_text=True)
    old = time.time() - (idempotency.FORM_TOKEN_HOURS + 1) * 3600
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(old))
    with app.test_request_context():
        stale = idempotency.new_token()
    monkeypatch.undo()
    refused = client.post("/orders/tasking/new", data={**data, "once": stale})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "ouvert trop longtemps" in text
    assert stale not in text  # a fresh token, so that sending again works
    assert _count(app, Order) == 0


def test_expired_tokens_are_purged(app, client, cast):
    _setup(app, cast)
    login(client, cast.user_a)
    with app.app_context():
        db.session.execute(
            IdempotencyKey.__table__.insert().values(
                key="form:old",
                fingerprint="f",
                expires_at=func.now() - func.make_interval(0, 0, 0, 1),
            )
        )
        commit()
    data = {**_form(client), **form_tokens(client, "/orders/tasking/new")}
    assert client.post("/orders/tasking/new", data=data).status_code == 302
    assert _count(app, IdempotencyKey, IdempotencyKey.key == "form:old") == 0
    assert _count(app, IdempotencyKey, IdempotencyKey.key.like("form:%")) == 1


def test_two_simultaneous_submissions_create_once(app, engine):
    """The unique index makes the second wait for the first, then see its result."""
    key = f"form:concurrent-{time.time_ns()}"
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    held = threading.Event()
    seen: dict[str, object] = {}

    def first() -> None:
        with app.app_context():
            db.bind(factory, app)
            row = hold(None, key, "fp")
            held.set()
            time.sleep(0.5)  # the second submission arrives meanwhile
            row.response = {"label": "T-000007", "url": "/orders/7", "data": {}}
            db.session.commit()

    def second() -> None:
        held.wait(5)
        with app.app_context():
            db.bind(factory, app)
            row = hold(None, key, "fp")
            seen["response"] = row.response
            db.session.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert seen["response"] == {"label": "T-000007", "url": "/orders/7", "data": {}}
        with engine.connect() as connection:
            rows = connection.execute(
                select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.key == key)
            ).scalar()
        assert rows == 1
    finally:
        with engine.begin() as connection:
            connection.execute(IdempotencyKey.__table__.delete().where(IdempotencyKey.key == key))


@pytest.mark.parametrize(
    "path",
    ["/join", "/join/account", "/support/new"],
)
def test_public_creating_forms_carry_a_token(client, path):
    assert form_tokens(client, path)["once"]
