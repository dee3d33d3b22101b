"""Orders through the web: the tasking form, the quote, staff actions, access."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from io import BytesIO

from shapely.geometry import mapping
from sqlalchemy import func, select

from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders.models import Order
from dinamis.quota import service as quota
from dinamis.quota.models import PriceRule
from tests.api.test_orders_api import archive_scenes  # noqa: F401 - the fixture
from tests.conftest import login
from tests.helpers import csrf_token, form_tokens
from tests.orders.helpers import acquired, square

D = Decimal


def _setup(app, cast, allowance="1000"):
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "tasking", quota.period_for(scheme_today()), D(allowance))
        db.session.add(
            PriceRule(
                profile_id=entity.profile_id,
                sensor="pleiades",
                order_kind="tasking",
                eur_per_km2=D("1.80"),
            )
        )
        commit()


def _form(client, side=0.15, **changes):
    start = scheme_today() + dt.timedelta(days=10)
    data = {
        "csrf_token": csrf_token(client, "/orders/tasking/new"),
        "aoi": json.dumps(mapping(square(side))),
        "sensor": "pleiades",
        "window_start": start.isoformat(),
        "window_end": (start + dt.timedelta(days=60)).isoformat(),
        "max_cloud_cover": "20",
        "max_incidence": "30",
        "mode": "mono",
        "spectral_mode": "pms",
        "project_title": "Coastline",
        "project_description": "Erosion",
        "justification": "No recent image",
        "theme": "coast",
        "funding": "",
    }
    data.update(changes)
    return data


def _orders(app):
    with app.app_context():
        orders = db.session.scalars(select(Order)).all()
        db.session.expunge_all()
        return orders


def test_user_submits_a_tasking_request(app, client, cast):
    _setup(app, cast)
    login(client, cast.user_a)
    response = client.post("/orders/tasking/new", data=_form(client))
    assert response.status_code == 302
    (order,) = _orders(app)
    assert order.status == "under_review"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert order.number in page and "en cours d&#39;examen" in page


def test_small_aoi_is_refused_with_its_area_and_nothing_is_written(app, client, cast):
    _setup(app, cast)
    login(client, cast.user_a)
    response = client.post("/orders/tasking/new", data=_form(client, side=0.05))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r"\d+,\d\d km²", page) and "100 km²" in page
    assert _orders(app) == []


def test_bad_aoi_inputs_are_clear_4xx(app, client, cast):
    _setup(app, cast)
    login(client, cast.user_a)
    bowtie = {"type": "Polygon", "coordinates": [[[2, 45], [3, 46], [3, 45], [2, 46], [2, 45]]]}
    cases = {
        "not json": "{oops",
        "a point": json.dumps({"type": "Point", "coordinates": [2, 45]}),
        "self-intersecting": json.dumps(bowtie),
        "out of range": json.dumps(
            {"type": "Polygon", "coordinates": [[[200, 45], [201, 45], [201, 46], [200, 45]]]}
        ),
    }
    for label, aoi in cases.items():
        response = client.post("/orders/tasking/new", data=_form(client, aoi=aoi))
        assert response.status_code == 422, label
    backwards = _form(client, window_end=scheme_today().isoformat())
    assert client.post("/orders/tasking/new", data=backwards).status_code == 422
    assert _orders(app) == []


def test_upload_an_aoi_file(app, client, cast):
    _setup(app, cast)
    login(client, cast.user_a)
    data = _form(client, aoi="")
    data["aoi_file"] = (BytesIO(json.dumps(mapping(square(0.2))).encode()), "aoi.geojson")
    response = client.post("/orders/tasking/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302


def test_quote_accepted_by_the_referent_then_staff_deliver(app, client, cast):
    _setup(app, cast, allowance="100")
    login(client, cast.user_a)
    client.post("/orders/tasking/new", data=_form(client, side=0.2))
    (order,) = _orders(app)
    assert order.status == "awaiting_quote"
    assert client.get(f"/orders/{order.id}/quote.pdf").data.startswith(b"%PDF")
    # the order's page draws its area of interest on a map
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'id="order-aoi-map"' in page and 'id="order-aoi-map-geojson"' in page
    # the requester cannot accept the quote; the Referent can
    token = csrf_token(client, f"/orders/{order.id}")
    assert (
        client.post(f"/orders/{order.id}/quote/accept", data={"csrf_token": token}).status_code
        == 403
    )
    client.post("/logout", data={"csrf_token": token})
    login(client, cast.referent_a)
    token = csrf_token(client, f"/orders/{order.id}")
    assert (
        client.post(f"/orders/{order.id}/quote/accept", data={"csrf_token": token}).status_code
        == 302
    )
    client.post("/logout", data={"csrf_token": token})
    login(client, cast.staff)
    token = csrf_token(client, f"/orders/{order.id}")
    assert (
        client.post(
            f"/orders/{order.id}/review/accept", data={"csrf_token": token, "comment": "ok"}
        ).status_code
        == 302
    )
    with app.app_context():
        acquired("PHR_1", square(0.3, 1.95, 44.95), scheme_today() + dt.timedelta(days=15))
        commit()
    bad = client.post(
        f"/orders/{order.id}/deliveries",
        data={"csrf_token": token, "scene_id": "PHR_1", "km2": "-1", "reason": "x"},
    )
    assert bad.status_code == 422
    done = client.post(
        f"/orders/{order.id}/deliveries", data={"csrf_token": token, "scene_id": "PHR_1"}
    )
    assert done.status_code == 302
    (order,) = _orders(app)
    assert order.status == "delivered"


def test_other_entities_cannot_see_or_act(app, client, cast):
    _setup(app, cast)
    login(client, cast.user_a)
    client.post("/orders/tasking/new", data=_form(client))
    (order,) = _orders(app)
    token = csrf_token(client, "/orders/")
    client.post("/logout", data={"csrf_token": token})
    login(client, cast.referent_b)
    assert client.get(f"/orders/{order.id}").status_code == 403
    assert client.get(f"/orders/{order.id}/quote.pdf").status_code == 403
    token = csrf_token(client, "/orders/")
    assert client.post(f"/orders/{order.id}/cancel", data={"csrf_token": token}).status_code == 403
    assert (
        client.post(f"/orders/{order.id}/review/accept", data={"csrf_token": token}).status_code
        == 403
    )
    assert order.number not in client.get("/orders/").get_data(as_text=True)
    assert client.get("/orders/999999").status_code == 404


def test_staff_cannot_order_and_anonymous_goes_to_login(client, cast):
    assert client.get("/orders/tasking/new").status_code == 302
    login(client, cast.staff)
    assert client.get("/orders/tasking/new").status_code == 403


def test_archive_order_from_the_catalogue(app, client, cast, archive_scenes):  # noqa: F811
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "archive", quota.period_for(scheme_today()), D("1000"))
        commit()
    login(client, cast.user_a)
    scene_page = client.get("/catalogue/scenes/ARC_1").get_data(as_text=True)
    assert "/orders/archive/new?scenes=ARC_1" in scene_page
    page = client.get("/orders/archive/new?scenes=ARC_1,OPEN_1")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "ARC_1" in text and "OPEN_1" in text
    token = csrf_token(client, "/orders/archive/new?scenes=ARC_1")
    fields = {
        "csrf_token": token,
        "project_title": "Wetlands",
        "project_description": "Mapping of wetlands.",
        "justification": "Summer images needed.",
        "theme": "water",
    }
    refused = client.post("/orders/archive/new", data={**fields, "scenes": "ARC_1,OPEN_1"})
    assert refused.status_code == 422
    assert '<span class="flash-error" role="alert">' in refused.get_data(as_text=True)
    cut = json.dumps(mapping(square(0.1, 2.1, 45.1)))
    done = client.post("/orders/archive/new", data={**fields, "scenes": "ARC_1", "aoi": cut})
    assert done.status_code == 302
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.kind == "archive")).one()
        assert [i.scene_id for i in order.items] == ["ARC_1"]
        assert order.status == "under_review" and order.free_km2 == order.charged_km2
    assert client.get("/orders/archive/new").status_code == 200  # nothing chosen: says so


def test_the_archive_form_shows_the_rules_on_its_project_at_its_fields(
    app,
    client,
    cast,
    archive_scenes,  # noqa: F811
    monkeypatch,
):
    """What the ordering rules refuse in a project the form's own checks let through is
    said at the form's field, in the member's language, and nothing is written (the
    archive rules named it the API's way, project.title, and the form lost it)."""
    from flask_babel import gettext

    from dinamis.orders import service

    real = service.project_errors

    def stricter(request):  # a rule the form does not repeat: a placeholder title
        errors = real(request)
        if request.project_title.strip() == "TBD":
            errors["project_title"] = gettext("Required.")
        return errors

    monkeypatch.setattr(service, "project_errors", stricter)
    login(client, cast.user_a)
    client.post("/language", data={"language": "fr", "csrf_token": csrf_token(client, "/")})
    path = "/orders/archive/new?scenes=ARC_1"
    refused = client.post(
        "/orders/archive/new",
        data={
            **form_tokens(client, path),
            "scenes": "ARC_1",
            "project_title": "TBD",
            "project_description": "Mapping of wetlands.",
            "justification": "Summer images needed.",
            "theme": "water",
        },
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert re.search(r'id="project_title-error">Obligatoire\.<', html)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_staff_queue_and_filters(app, client, cast):
    _setup(app, cast)
    login(client, cast.user_a)
    assert client.post("/orders/tasking/new", data=_form(client)).status_code == 302
    staff = app.test_client()
    login(staff, cast.staff)
    queue = staff.get("/orders/?status=queue").get_data(as_text=True)
    assert "T-0" in queue
    assert "T-0" not in staff.get("/orders/?kind=archive").get_data(as_text=True)
    assert "T-0" in staff.get(f"/orders/?entity={cast.entity_a}&sensor=pleiades").get_data(
        as_text=True
    )
    assert "T-0" not in staff.get(f"/orders/?entity={cast.entity_b}").get_data(as_text=True)
    assert "T-0" not in staff.get("/orders/?q=nothing-like-this").get_data(as_text=True)
    assert staff.get("/orders/?status=nope").status_code == 400
    assert staff.get("/orders/?entity=abc").status_code == 400
