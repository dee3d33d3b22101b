"""Deliveries: a real catalogue scene that can be the product, its km² measured, not typed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask_babel import force_locale
from shapely.geometry import MultiPolygon, box
from sqlalchemy import func, select

from dinamis.accounts import service as accounts
from dinamis.catalogue import service as catalogue
from dinamis.catalogue.models import Scene
from dinamis.catalogue.permissions import may_download
from dinamis.core.dates import today as scheme_today
from dinamis.core.errors import ServiceError
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders import archive, service
from dinamis.orders.models import Delivery, Status
from dinamis.quota import service as quota
from dinamis.quota.models import LedgerEntry, LedgerTransaction, PostingKind
from tests.conftest import login
from tests.factories import make_collection, make_entity, make_scene, make_user
from tests.helpers import csrf_token, reference_km2
from tests.orders.helpers import TODAY, acquired, tasking

D = Decimal
AOI = box(2, 45, 2.15, 45.15)  # tasking()'s default area of interest
IN_WINDOW = TODAY + dt.timedelta(days=20)


@pytest.fixture
def world(app):
    with app.app_context(), force_locale("en"):
        entity = make_entity("Lab D", profile_code="research-fr")
        user = make_user("user@lab-d.test", entity=entity)
        staff = make_user("staff@dinamis.test", role="staff")
        for family in ("tasking", "archive"):
            quota.grant(entity, family, "2027", D("5000"))
        yield {"entity": entity, "user": user, "staff": staff}


def _accepted(world, **changes):
    order = service.submit_tasking(world["user"], tasking(**changes), today=TODAY)
    service.review(world["staff"], order, accept=True, comment="Feasible.")
    return order


def _refused(world, order, scene_id, *words):
    with pytest.raises(ServiceError) as refused:
        service.deliver(world["staff"], order, scene_id)
    for word in words:
        assert word in refused.value.message
    assert "scene_id" in refused.value.fields
    assert order.deliveries == [] and order.status == Status.ACCEPTED
    return refused.value


def _postings(order, kind):
    return list(
        db.session.scalars(
            select(func.sum(LedgerEntry.amount))
            .join(LedgerTransaction)
            .where(
                LedgerTransaction.reference == order.reference,
                LedgerTransaction.kind == kind,
                LedgerEntry.amount > 0,
            )
            .group_by(LedgerTransaction.id)
            .order_by(LedgerTransaction.id)
        )
    )


def test_an_unknown_scene_is_refused_and_nothing_is_counted(world):
    order = _accepted(world)
    _refused(world, order, "NOPE-SCENE", "no scene NOPE-SCENE in the catalogue")
    assert _postings(order, PostingKind.CONSUME) == []
    with pytest.raises(ServiceError, match="Name the delivered scene"):
        service.deliver(world["staff"], order, "  ")


def test_a_scene_acquired_outside_the_window_is_refused(world):
    order = _accepted(world)
    acquired("EARLY", AOI, TODAY)  # the window opens ten days later
    acquired("LATE", AOI, order.window_end + dt.timedelta(days=1))
    _refused(world, order, "EARLY", "outside the order's acquisition window")
    _refused(world, order, "LATE", "outside the order's acquisition window")
    acquired("LAST_DAY", AOI, order.window_end)
    assert service.deliver(world["staff"], order, "LAST_DAY").km2 == order.charged_km2


def test_a_scene_of_another_sensor_is_refused(world):
    order = _accepted(world)
    make_collection("spot-test", sensor_family="spot")
    when = dt.datetime.combine(IN_WINDOW, dt.time(10), tzinfo=dt.UTC)
    make_scene("SPOT_1", AOI, when, collection="spot-test")
    _refused(world, order, "SPOT_1", "acquired by SPOT 6-7", "asks for Pléiades")


def test_a_scene_that_misses_the_aoi_is_refused(world):
    order = _accepted(world)
    acquired("ELSEWHERE", box(5, 47, 5.2, 47.2), IN_WINDOW)
    acquired("TOUCHING", box(2.15, 45, 2.3, 45.15), IN_WINDOW)  # shares an edge only
    _refused(world, order, "ELSEWHERE", "does not meet the order's area of interest")
    _refused(world, order, "TOUCHING", "does not meet")


def test_the_km2_are_the_aoi_part_covered_and_the_ledger_follows_them(world):
    order = _accepted(world)
    part = box(2, 45, 2.06, 45.15)
    acquired("WEST", box(1.8, 44.8, 2.06, 45.4), IN_WINDOW)
    # the second scene overlaps the first: only what it adds is delivered
    acquired("EAST", box(2.03, 44.8, 2.4, 45.4), IN_WINDOW + dt.timedelta(days=1))
    west = service.deliver(world["staff"], order, "WEST")
    assert west.km2 == west.computed_km2 == reference_km2(part)
    assert west.correction_reason is None and order.status == Status.PARTIALLY_DELIVERED
    east = service.deliver(world["staff"], order, "EAST")
    assert east.km2 == reference_km2(AOI) - reference_km2(part)
    assert order.delivered_km2 == order.charged_km2 and order.status == Status.DELIVERED
    assert _postings(order, PostingKind.CONSUME) == [west.km2, east.km2]
    service.close(world["staff"], order)
    assert _postings(order, PostingKind.RELEASE) == []  # nothing was left to release
    assert order.deliveries == [west, east]


def test_a_scene_already_delivered_or_adding_nothing_is_refused(world):
    order = _accepted(world)
    acquired("HALF", box(2, 45, 2.1, 45.15), IN_WINDOW)
    acquired("INSIDE", box(2.02, 45.02, 2.08, 45.1), IN_WINDOW)
    service.deliver(world["staff"], order, "HALF")
    with pytest.raises(ServiceError, match="already delivered"):
        service.deliver(world["staff"], order, "HALF")
    with pytest.raises(ServiceError, match="earlier deliveries covered"):
        service.deliver(world["staff"], order, "INSIDE")
    assert len(order.deliveries) == 1


def test_a_partial_delivery_closes_and_releases_exactly_the_rest(world):
    order = _accepted(world)
    acquired("WEST", box(2, 45, 2.05, 45.15), IN_WINDOW)
    west = service.deliver(world["staff"], order, "WEST")
    service.close(world["staff"], order, "The rest stayed cloudy.")
    assert order.status == Status.CLOSED
    assert _postings(order, PostingKind.RELEASE) == [order.charged_km2 - west.km2]
    (b,) = [b for b in quota.balances(world["entity"]) if b.family == "tasking"]
    assert (b.consumed, b.reserved) == (west.km2, D("0.00"))
    assert b.available == D("5000.00") - west.km2
    assert quota.trial_balance() == 0


@pytest.mark.parametrize(("mode", "size", "factor"), [("stereo", 2, 2), ("tristereo", 3, 3)])
def test_a_stereo_group_counts_twice_or_three_times(world, mode, size, factor):
    order = _accepted(world, mode=mode)
    group = [f"GRP_{k}" for k in range(size)]
    for sid in group:
        acquired(sid, box(2, 45, 2.1, 45.15), IN_WINDOW, stereo_group="G1")
    delivery = service.deliver(world["staff"], order, group[-1])
    assert delivery.computed_km2 == reference_km2(box(2, 45, 2.1, 45.15)) * factor
    assert _postings(order, PostingKind.CONSUME) == [delivery.km2]
    # the group is delivered as a whole: its other scenes cannot be delivered again
    with pytest.raises(ServiceError, match="already delivered"):
        service.deliver(world["staff"], order, group[0])
    assert [s.id for s in catalogue.stereo_group(db.session.get(Scene, group[0]))] == group


def test_a_mono_order_is_not_charged_for_a_pair(world):
    order = _accepted(world)
    acquired("P_1", AOI, IN_WINDOW, stereo_group="PAIR")
    acquired("P_2", AOI, IN_WINDOW, stereo_group="PAIR")
    assert service.deliver(world["staff"], order, "P_1").km2 == order.charged_km2


def test_a_correction_needs_a_reason_and_is_recorded(world):
    order = _accepted(world)
    acquired("WHOLE", AOI, IN_WINDOW)
    with pytest.raises(ServiceError) as refused:
        service.deliver(world["staff"], order, "WHOLE", D("50"))
    assert "reason" in refused.value.fields and order.deliveries == []
    with pytest.raises(ServiceError):
        service.deliver(world["staff"], order, "WHOLE", D("50"), "   ")
    with pytest.raises(ServiceError):
        service.deliver(world["staff"], order, "WHOLE", D("0"), "Nothing usable.")
    # the measured figure typed again is no correction
    same = service.deliver(world["staff"], order, "WHOLE", order.charged_km2, "Why not")
    assert same.correction_reason is None
    other = _accepted(world)
    fixed = service.deliver(world["staff"], other, "WHOLE", D("50.004"), "Half was cloudy.")
    assert (fixed.km2, fixed.computed_km2) == (D("50.00"), other.charged_km2)
    assert fixed.correction_reason == "Half was cloudy." and fixed.corrected
    assert _postings(other, PostingKind.CONSUME) == [D("50.00")]
    assert "corrected from the measured" in other.events[-1].comment
    assert "Half was cloudy." in other.events[-1].comment


def test_the_database_refuses_a_correction_without_reason(world):
    order = _accepted(world)
    acquired("WHOLE", AOI, IN_WINDOW)
    delivery = service.deliver(world["staff"], order, "WHOLE")
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(
            Delivery(
                order_id=delivery.order_id,
                scene_ref="X",
                km2=D("10"),
                computed_km2=D("12"),
                actor_id=world["staff"].id,
            )
        )
        db.session.flush()


def test_an_archive_delivery_is_an_ordered_scene_measured_by_its_cut(world):
    make_collection("phr-arch", sensor_family="pleiades", orderable=True)
    when = dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    for sid in ("ARC_A", "ARC_B", "ARC_C"):
        make_scene(sid, box(2, 45, 2.2, 45.2), when, collection="phr-arch")
    cut = MultiPolygon([box(2.1, 45.1, 2.3, 45.3)])
    order = archive.submit_archive(
        world["user"],
        archive.ArchiveRequest(
            items=[archive.ArchiveItem("ARC_A", cut), archive.ArchiveItem("ARC_B")],
            project_title="Wetlands",
            project_description="Mapping.",
            justification="Archive image needed.",
            theme="water",
        ),
        today=TODAY,
    )
    service.review(world["staff"], order, accept=True, comment="ok")
    refused = _refused(world, order, "ARC_C", "not one of this order's scenes")
    assert "ARC_A, ARC_B" in refused.fields["scene_id"]
    _refused(world, order, "NOPE-SCENE", "no scene")
    a = service.deliver(world["staff"], order, "ARC_A")
    assert a.km2 == reference_km2(box(2.1, 45.1, 2.2, 45.2))
    b = service.deliver(world["staff"], order, "ARC_B")
    assert b.km2 == reference_km2(box(2, 45, 2.2, 45.2))
    assert order.status == Status.DELIVERED
    assert _postings(order, PostingKind.CONSUME) == [a.km2, b.km2]


def test_candidates_are_the_scenes_that_fit(world):
    order = _accepted(world)
    acquired("FITS", AOI, IN_WINDOW)
    acquired("EARLY", AOI, TODAY)
    acquired("ELSEWHERE", box(5, 47, 5.2, 47.2), IN_WINDOW)
    found = service.delivery_candidates(order)
    assert [(m.scene.id, m.km2) for m in found] == [("FITS", order.charged_km2)]


def test_the_order_page_links_the_delivered_scenes_with_their_files(app, client, cast):
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "tasking", quota.period_for(scheme_today()), D("1000"))
        user = accounts.get_user_by_email(cast.user_a)
        staff = accounts.get_user_by_email(cast.staff)
        start = scheme_today() + dt.timedelta(days=5)
        order = service.submit_tasking(
            user, tasking(window_start=start, window_end=start + dt.timedelta(days=30))
        )
        service.review(staff, order, accept=True, comment="ok")
        make_collection("pleiades-test", sensor_family="pleiades")
        when = dt.datetime.combine(start + dt.timedelta(days=2), dt.time(10), tzinfo=dt.UTC)
        make_scene("PHR_DELIVERED", AOI, when, data=b"image bytes")
        commit()
        order_id = order.id
    login(client, cast.staff)
    page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert 'data-scene="PHR_DELIVERED"' in page  # offered as a candidate, measured
    token = csrf_token(client, f"/orders/{order_id}")
    bad = client.post(
        f"/orders/{order_id}/deliveries", data={"csrf_token": token, "scene_id": "NOPE-SCENE"}
    )
    assert bad.status_code == 422 and "NOPE-SCENE" in bad.get_data(as_text=True)
    no_reason = client.post(
        f"/orders/{order_id}/deliveries",
        data={"csrf_token": token, "scene_id": "PHR_DELIVERED", "km2": "10"},
    )
    assert no_reason.status_code == 422
    done = client.post(
        f"/orders/{order_id}/deliveries", data={"csrf_token": token, "scene_id": "PHR_DELIVERED"}
    )
    assert done.status_code == 302
    client.post("/logout", data={"csrf_token": token})
    # the requester and the entity's Referent see the scene as a link with its download
    for person in (cast.user_a, cast.referent_a):
        login(client, person)
        page = client.get(f"/orders/{order_id}").get_data(as_text=True)
        assert 'href="/catalogue/scenes/PHR_DELIVERED"' in page
        assert (
            "/catalogue/licences/pleiades-test" in page
            or "/catalogue/scenes/PHR_DELIVERED/files/data" in page
        )
        client.post("/logout", data={"csrf_token": csrf_token(client, "/orders/")})


def test_delivered_scenes_serve_every_member_the_collection_allows(app, cast):
    with app.app_context():
        when = dt.datetime(2027, 4, 1, 10, tzinfo=dt.UTC)
        make_collection(
            "neo-research",
            sensor_family="pleiades-neo",
            access="profiles",
            profiles=["research-fr"],
        )
        scene = make_scene("NEO_D", AOI, when, collection="neo-research", data=b"x")
        research_member = accounts.get_user_by_email(cast.user_a)
        public_member = accounts.get_user_by_email(cast.user_b)
        assert may_download(research_member, scene.collection)
        assert not may_download(public_member, scene.collection)
        states = dict(
            (f.key, state)
            for f, state, _r in catalogue.file_states(public_member, scene, catalogue.Visit())
        )
        assert states == {"data": "refused"}
