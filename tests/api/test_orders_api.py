"""The orders and quota API: submissions, refusals (nothing written), idempotency, the life."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import func, select

from dinamis.accounts import service as accounts
from dinamis.catalogue.ingest import Report, load
from dinamis.core.dates import today as scheme_today
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders.models import Order
from dinamis.quota import service as quota
from dinamis.quota.models import LedgerTransaction, PriceRule
from tests.helpers import reference_km2
from tests.orders.helpers import acquired

D = Decimal
START = scheme_today() + dt.timedelta(days=10)


def square(side: float, lon: float = 2.0, lat: float = 45.0) -> dict:
    return mapping(box(lon, lat, lon + side, lat + side))


def body(**changes) -> dict:
    base = {
        "aoi": square(0.15),
        "sensor": "pleiades",
        "window": {"start": START.isoformat(), "end": (START + dt.timedelta(days=60)).isoformat()},
        "max_cloud_cover": 20,
        "max_incidence_angle": 30,
        "mode": "mono",
        "spectral_mode": "PMS",
        "project": {
            "title": "Coast",
            "description": "Erosion of the Atlantic coast.",
            "justification": "No cloud-free image since the winter storms.",
            "theme": "coast",
        },
    }
    base.update(changes)
    return base


@pytest.fixture
def api(app, cast):
    """Bearer headers per person; entity A has 100 km² of tasking and archive allowance."""
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        period = quota.period_for(scheme_today())
        for kind in ("tasking", "archive"):
            db.session.add(
                PriceRule(
                    profile_id=entity.profile_id,
                    sensor="pleiades",
                    order_kind=kind,
                    eur_per_km2=D("1.80"),
                )
            )
        quota.grant(entity, "tasking", period, D("100"))
        quota.grant(entity, "archive", period, D("100"))
        headers = {}
        for name in ("user_a", "referent_a", "user_b", "staff"):
            user = accounts.get_user_by_email(getattr(cast, name))
            _token, clear = accounts.create_api_token(user, "t")
            headers[name] = {"Authorization": f"Bearer {clear}"}
        commit()
        return headers


def counts(app) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Order)),
            db.session.scalar(select(func.count()).select_from(LedgerTransaction)),
        )


def test_submit_a_tasking_request_with_its_free_and_cofunded_parts(app, client, api):
    response = client.post("/api/v1/tasking-requests", json=body(), headers=api["user_a"])
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    area = reference_km2(box(2, 45, 2.15, 45.15))
    assert D(order["area_km2"]) == area and D(order["charged_km2"]) == area
    assert D(order["free_km2"]) == D("100.00")
    assert D(order["cofunded_km2"]) == area - 100
    assert D(order["price_eur"]) == ((area - 100) * D("1.80")).quantize(D("0.01"))
    assert order["status"] == "awaiting_quote" and order["spectral_mode"] == "PMS"
    stereo = client.post(
        "/api/v1/tasking-requests", json=body(mode="stereo"), headers=api["user_a"]
    ).get_json()
    assert D(stereo["charged_km2"]) == area * 2 and D(stereo["free_km2"]) == 0


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"aoi": square(0.08)}, "aoi", "at least 100 km²"),
        # 0.1° x 0.1°: 123 km² at the equator (accepted below), 42 km² at 70° N.
        ({"aoi": mapping(box(20, 70, 20.1, 70.1))}, "aoi", "at least 100"),
        (
            {
                "aoi": {
                    "type": "Polygon",
                    "coordinates": [[[2, 45], [3, 46], [3, 45], [2, 46], [2, 45]]],
                }
            },
            "aoi",
            "crosses itself",
        ),
        (
            {"aoi": {"type": "Polygon", "coordinates": [[[2, 45], [3, 45], [3, 46]]]}},
            "aoi",
            "at least 4",
        ),
        ({"aoi": {"type": "Point", "coordinates": [2, 45]}}, "aoi", "Polygon or MultiPolygon"),
        (
            {"aoi": {"type": "LineString", "coordinates": [[2, 45], [3, 46]]}},
            "aoi",
            "Polygon or MultiPolygon",
        ),
        ({"aoi": square(1, lon=200)}, "aoi", "longitude"),
        (
            {
                "aoi": {
                    "type": "Polygon",
                    "coordinates": [[[10**400, 45], [3, 45], [3, 46], [10**400, 45]]],
                }
            },
            "aoi",
            "finite",
        ),
        (
            {
                "aoi": {
                    "type": "Polygon",
                    "coordinates": [[[2, 45], [3, 45], [3, float("inf")], [2, 45]]],
                }
            },
            "aoi",
            "finite",
        ),
        ({"window": {"start": "2020-01-01", "end": "2020-03-01"}}, "window.start", "earliest"),
        (
            {"window": {"start": START.isoformat(), "end": START.isoformat()}},
            "window.end",
            "after it starts",
        ),
        ({"window": {"start": "soon", "end": "later"}}, "window.start", "YYYY-MM-DD"),
        ({"max_cloud_cover": 150}, "max_cloud_cover", "100"),
        ({"max_incidence_angle": 75}, "max_incidence_angle", "60"),
        ({"sensor": "landsat"}, "sensor", "pleiades"),
        ({"mode": "quadri"}, "mode", ""),
        ({"spectral_mode": "UV"}, "spectral_mode", ""),
        (
            {"project": {"title": "", "description": "d", "justification": "j", "theme": "coast"}},
            "project.title",
            "",
        ),
    ],
)
def test_refusals_say_why_and_write_nothing(app, client, api, changes, field, words):
    before = counts(app)
    response = client.post(
        "/api/v1/tasking-requests",
        json=body(**changes),
        headers={**api["user_a"], "Accept-Language": "en"},
    )
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    # the field itself, or a part of it (`aoi.coordinates.0`)
    found = [v for k, v in error["fields"].items() if k == field or k.startswith(f"{field}.")]
    assert found and any(words in v for v in found), error
    assert counts(app) == before


def test_malformed_json_and_expired_entity(app, client, api, cast):
    raw = client.post(
        "/api/v1/tasking-requests",
        data="{nope",
        headers={**api["user_a"], "Content-Type": "application/json"},
    )
    assert raw.status_code == 400
    before = counts(app)
    with app.app_context():
        db.session.get(Entity, cast.entity_a).status = "expired"
        commit()
    refused = client.post("/api/v1/tasking-requests", json=body(), headers=api["user_a"])
    assert refused.status_code == 403 and counts(app) == before
    staff = client.post("/api/v1/tasking-requests", json=body(), headers=api["staff"])
    assert staff.status_code == 403


def test_idempotency_key(app, client, api):
    headers = {**api["user_a"], "Idempotency-Key": "abc-123"}
    first = client.post("/api/v1/tasking-requests", json=body(), headers=headers)
    again = client.post("/api/v1/tasking-requests", json=body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/api/v1/tasking-requests", json=body(mode="stereo"), headers=headers)
    assert other.status_code == 422
    # A refused request leaves its key free for the corrected one.
    key = {**api["user_a"], "Idempotency-Key": "retry-1"}
    bad = client.post("/api/v1/tasking-requests", json=body(max_cloud_cover=150), headers=key)
    assert bad.status_code == 422
    assert client.post("/api/v1/tasking-requests", json=body(), headers=key).status_code == 201
    assert counts(app)[0] == 2


def test_quote_staff_steps_and_quota(app, client, api):
    order = client.post("/api/v1/tasking-requests", json=body(), headers=api["user_a"]).get_json()
    base = f"/api/v1/tasking-requests/{order['id']}"
    assert client.get(f"{base}/quote.pdf", headers=api["user_a"]).mimetype == "application/pdf"
    assert client.post(f"{base}/quote/accept", headers=api["user_a"]).status_code == 403
    assert client.get(base, headers=api["user_b"]).status_code == 403
    accepted = client.post(f"{base}/quote/accept", headers=api["referent_a"])
    assert accepted.get_json()["status"] == "under_review"
    assert client.post(f"{base}/quote/accept", headers=api["referent_a"]).status_code == 409
    assert client.post(f"{base}/accept", headers=api["user_a"]).status_code == 403
    step = client.post(f"{base}/accept", json={"comment": "Feasible."}, headers=api["staff"])
    assert step.get_json()["status"] == "accepted"
    with app.app_context():  # the AOI is box(2, 45, 2.15, 45.15)
        acquired("PHR_X", box(1.9, 44.9, 2.05, 45.2), START + dt.timedelta(days=3))
        acquired("PHR_Y", box(2.05, 44.9, 2.3, 45.2), START + dt.timedelta(days=4))
        commit()
    delivered = client.post(f"{base}/deliveries", json={"scene_id": "PHR_X"}, headers=api["staff"])
    assert delivered.status_code == 201 and delivered.get_json()["status"] == "partially_delivered"
    (first,) = delivered.get_json()["deliveries"]
    assert first["km2"] == first["measured_km2"] == str(reference_km2(box(2, 45, 2.05, 45.15)))
    typed = client.post(
        f"{base}/deliveries", json={"scene_id": "PHR_Y", "km2": "60"}, headers=api["staff"]
    )
    assert typed.status_code == 422 and "reason" in typed.get_json()["error"]["fields"]
    rest = client.post(f"{base}/deliveries", json={"scene_id": "PHR_Y"}, headers=api["staff"])
    assert rest.get_json()["status"] == "delivered"
    closed = client.post(f"{base}/close", headers=api["staff"]).get_json()
    assert closed["status"] == "closed" and [e["to"] for e in closed["events"]][-1] == "closed"
    balances = client.get("/api/v1/quota", headers=api["user_a"]).get_json()
    tasking = next(f for f in balances["families"] if f["family"] == "tasking")
    assert D(tasking["allowance_km2"]) == 100 and D(tasking["available_km2"]) == 0
    assert D(tasking["consumed_km2"]) == 100 and D(tasking["reserved_km2"]) == 0
    ledger = client.get("/api/v1/quota/ledger", headers=api["user_a"]).get_json()
    assert {line["kind"] for line in ledger["lines"]} >= {"grant", "reserve", "consume"}
    assert client.get("/api/v1/quota?period=nope", headers=api["user_a"]).status_code == 400
    mine = client.get("/api/v1/tasking-requests", headers=api["user_a"]).get_json()["orders"]
    assert [o["id"] for o in mine] == [order["id"]]
    assert client.get("/api/v1/tasking-requests", headers=api["user_b"]).get_json()["orders"] == []


def test_reject_needs_a_reason_and_releases(app, client, api):
    equator = client.post(
        "/api/v1/tasking-requests",
        json=body(aoi=mapping(box(2, 0, 2.1, 0.1))),
        headers=api["user_a"],
    ).get_json()
    assert D(equator["area_km2"]) > 100  # the same 0.1° square refused at 70° N
    base = f"/api/v1/tasking-requests/{equator['id']}"
    client.post(f"{base}/quote/accept", headers=api["referent_a"])
    assert client.post(f"{base}/reject", json={}, headers=api["staff"]).status_code == 422
    rejected = client.post(
        f"{base}/reject", json={"comment": "Cloudy season."}, headers=api["staff"]
    )
    assert rejected.get_json()["status"] == "rejected"
    balances = client.get("/api/v1/quota", headers=api["user_a"]).get_json()
    tasking = next(f for f in balances["families"] if f["family"] == "tasking")
    assert D(tasking["available_km2"]) == 100 and D(tasking["reserved_km2"]) == 0


@pytest.fixture
def archive_scenes(app):
    footprint = {
        "type": "Polygon",
        "coordinates": [[[2, 45], [2.2, 45], [2.2, 45.2], [2, 45.2], [2, 45]]],
    }
    with app.app_context():
        report = Report()
        load(
            [
                (
                    "t",
                    {
                        "type": "Collection",
                        "id": "phr-archive",
                        "title": "Pléiades archive",
                        "license": "x",
                        "dinamis": {
                            "access": "members",
                            "sensor_family": "pleiades",
                            "orderable": True,
                        },
                    },
                ),
                (
                    "t",
                    {
                        "type": "Collection",
                        "id": "spot-open",
                        "title": "SPOT open",
                        "license": "etalab-2.0",
                        "dinamis": {"access": "open", "sensor_family": "spot"},
                    },
                ),
            ]
            + [
                (
                    "t",
                    {
                        "type": "Feature",
                        "id": sid,
                        "collection": cid,
                        "geometry": footprint,
                        "properties": {"datetime": "2024-01-01T10:00:00Z"},
                    },
                )
                for sid, cid in (
                    ("ARC_1", "phr-archive"),
                    ("ARC_2", "phr-archive"),
                    ("OPEN_1", "spot-open"),
                )
            ],
            report,
        )
        assert report.errors == []
        commit()


def project() -> dict:
    return {
        "title": "Wetlands",
        "description": "Mapping of wetlands.",
        "justification": "The 2020 survey is out of date.",
        "theme": "water",
    }


def test_archive_orders(app, client, api, archive_scenes):
    cut = square(0.1, 2.1, 45.1)  # a quarter of the footprint
    response = client.post(
        "/api/v1/archive-orders",
        json={
            "items": [{"scene_id": "ARC_1", "aoi": cut}, {"scene_id": "ARC_2"}],
            "project": project(),
        },
        headers=api["user_a"],
    )
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    quarter = reference_km2(box(2.1, 45.1, 2.2, 45.2))
    whole = reference_km2(box(2, 45, 2.2, 45.2))
    assert D(order["charged_km2"]) == quarter + whole
    assert order["kind"] == "archive" and [i["scene_id"] for i in order["items"]] == [
        "ARC_1",
        "ARC_2",
    ]
    base = f"/api/v1/archive-orders/{order['id']}"
    client.post(f"{base}/quote/accept", headers=api["referent_a"])
    client.post(f"{base}/accept", headers=api["staff"])
    wrong = client.post(
        f"{base}/deliveries", json={"scene_id": "OPEN_1", "km2": "1"}, headers=api["staff"]
    )
    assert wrong.status_code == 422
    right = client.post(f"{base}/deliveries", json={"scene_id": "ARC_1"}, headers=api["staff"])
    (delivery,) = right.get_json()["deliveries"]
    assert delivery["scene_id"] == "ARC_1" and delivery["km2"] == str(quarter)
    assert (
        client.get(f"/api/v1/tasking-requests/{order['id']}", headers=api["user_a"]).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("items", "words"),
    [
        ([{"scene_id": "OPEN_1"}], "cannot be ordered"),
        ([{"scene_id": "NOPE"}], "no scene"),
        ([{"scene_id": "ARC_1", "aoi": square(0.1, 5, 48)}], "misses"),
        ([{"scene_id": "ARC_1", "aoi": square(0.03, 2.05, 45.05)}], "at least 25"),
        ([{"scene_id": "ARC_1"}, {"scene_id": "ARC_1"}], "twice"),
        ([], "items: Number of items: at least 1"),
    ],
)
def test_archive_refusals(app, client, api, archive_scenes, items, words):
    before = counts(app)
    response = client.post(
        "/api/v1/archive-orders",
        data=json.dumps({"items": items, "project": project()}),
        headers={**api["user_a"], "Content-Type": "application/json", "Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert words in response.get_json()["error"]["message"]
    assert counts(app) == before


def test_a_free_order_answers_as_it_reads_back_and_its_mail_is_written(app, client, cast, api):
    """A submission within the allowance (the path that writes its rows in one statement):
    the 201 answer is the order as a later GET reads it back from the database, and the
    requester's e-mail about it is in the outbox."""
    from dinamis.core.mail import OutboxMessage

    with app.app_context():
        staff = accounts.get_user_by_email(cast.staff)
        entity = db.session.get(Entity, cast.entity_a)
        period = quota.period_for(scheme_today())
        quota.adjust(staff, entity, "tasking", period, D("500"), "more", "adjust:free-order")
        commit()
    response = client.post("/api/v1/tasking-requests", json=body(), headers=api["user_a"])
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert answer["status"] == "under_review"
    assert answer["free_km2"] == answer["charged_km2"] and answer["cofunded_km2"] == "0.00"
    assert [(e["from"], e["to"]) for e in answer["events"]] == [("draft", "under_review")]
    assert answer["events"][0]["at"] and answer["submitted_at"]
    again = client.get(f"/api/v1/tasking-requests/{answer['id']}", headers=api["user_a"])
    assert again.get_json() == answer
    with app.app_context():
        (mail,) = db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.to_address == cast.user_a,
                OutboxMessage.template == "order_status",
            )
        ).all()
        assert answer["number"] in mail.subject


@pytest.mark.parametrize(
    ("project", "field"),
    [
        ({"title": "Coast", "description": "d", "theme": "coast"}, "project.justification"),
        ({"title": "Coast", "description": "d", "justification": "j"}, "project.theme"),
        (
            {"title": "Coast", "description": "d", "justification": "   ", "theme": "coast"},
            "project.justification",
        ),
    ],
)
def test_the_api_asks_the_project_as_the_web_form_does(app, client, api, project, field):
    """No justification or theme filled in for the caller: missing or blank, it is refused
    at its field (the service's one rule, as on the web form), and nothing is written."""
    before = counts(app)
    response = client.post(
        "/api/v1/tasking-requests",
        json=body(project=project),
        headers={**api["user_a"], "Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert counts(app) == before


def test_the_service_refuses_a_blank_justification_and_an_unknown_theme(app, cast):
    from dinamis.core.errors import ServiceError
    from dinamis.orders import service
    from tests.orders.helpers import tasking

    with app.app_context():
        user = accounts.get_user_by_email(cast.user_a)
        with pytest.raises(ServiceError) as refused:
            service.submit_tasking(user, tasking(justification=" ", theme="astrology"))
        assert set(refused.value.fields) == {"justification", "theme"}


def _orders(app, cast, kinds: list[str]) -> list[int]:
    """Orders of entity A's user, oldest first, written directly (no ledger needed to list)."""
    from geoalchemy2.shape import from_shape
    from shapely.geometry import MultiPolygon

    from dinamis.orders.service import new_order

    with app.app_context():
        user = accounts.get_user_by_email(cast.user_a)
        orders = [
            new_order(
                kind=kind,
                status="under_review",
                entity_id=user.entity_id,
                requester_id=user.id,
                sensor="pleiades",
                aoi=from_shape(MultiPolygon([box(2, 45, 2.1, 45.1)]), srid=4326),
                aoi_km2=D("87.00"),
                charged_km2=D("87.00"),
                family=kind,
                period="2027",
                window_start=START if kind == "tasking" else None,
                window_end=START + dt.timedelta(days=30) if kind == "tasking" else None,
                project_title=f"Listed {n}",
                project_description="d",
                justification="j",
                theme="other",
            )
            for n, kind in enumerate(kinds)
        ]
        db.session.add_all(orders)
        commit()
        return [o.id for o in orders]


def test_a_list_filters_its_kind_before_its_limit(app, client, api, cast):
    """An archive order older than 500 tasking requests is listed: the kind is filtered in
    SQL, before the page's limit (filtered in Python after the 500 newest, it was lost)."""
    ids = _orders(app, cast, ["archive"] + ["tasking"] * 500)
    archive = client.get("/api/v1/archive-orders", headers=api["user_a"]).get_json()
    assert [o["id"] for o in archive["orders"]] == ids[:1] and archive["next"] is None


def test_lists_are_paged_newest_first(app, client, api, cast):
    ids = _orders(app, cast, ["tasking", "archive", "tasking"] * 3 + ["tasking"])
    tasking = [
        i
        for i, kind in zip(ids, ["tasking", "archive", "tasking"] * 3 + ["tasking"], strict=True)
        if kind == "tasking"
    ]
    seen, url = [], "/api/v1/tasking-requests?limit=3"
    while url:
        page = client.get(url, headers=api["user_a"])
        assert page.status_code == 200
        answer = page.get_json()
        assert len(answer["orders"]) <= 3
        seen += [o["id"] for o in answer["orders"]]
        url = answer["next"]
    assert seen == sorted(tasking, reverse=True)
    under = client.get(
        "/api/v1/tasking-requests?limit=2&status=under_review", headers=api["user_a"]
    ).get_json()
    assert "status=under_review" in under["next"]
    for bad in ("limit=0", "limit=501", "before=0", "before=abc"):
        refused = client.get(f"/api/v1/tasking-requests?{bad}", headers=api["user_a"])
        assert refused.status_code == 400, bad


def test_an_archive_order_names_its_project_fields_as_the_form_and_the_api_do(
    app, client, cast, api, archive_scenes
):
    """The archive rules name a project's problems by the service's (and the web form's)
    field names, like the tasking rules; the API renames them to its own (project.*)."""
    from dinamis.core.errors import ServiceError
    from dinamis.orders import archive

    with app.app_context():
        user = accounts.get_user_by_email(cast.user_a)
        request = archive.ArchiveRequest(
            items=[archive.ArchiveItem("ARC_1")],
            project_title=" ",
            project_description="d",
            justification="",
            theme="astrology",
        )
        with pytest.raises(ServiceError) as refused:
            archive.check_archive(user, request)
        assert set(refused.value.fields) == {"project_title", "justification", "theme"}
    before = counts(app)
    response = client.post(
        "/api/v1/archive-orders",
        json={"items": [{"scene_id": "ARC_1"}], "project": {**project(), "justification": " "}},
        headers={**api["user_a"], "Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"project.justification"}
    assert counts(app) == before


def test_a_value_outside_its_list_is_answered_in_french_without_english_words(app, client, api):
    response = client.post(
        "/api/v1/tasking-requests",
        json=body(spectral_mode="UV"),
        headers={**api["user_a"], "Accept-Language": "fr"},
    )
    assert response.status_code == 422
    message = response.get_json()["error"]["fields"]["spectral_mode"]
    assert message == "L\u2019une des valeurs : PAN, MS, PMS, bundle.", message
