"""The rules of a surface-model request, through the service and the API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from dinamis.accounts import service as accounts
from dinamis.core.errors import Conflict, ServiceError
from dinamis.core.geo import geodesic_km2
from dinamis.core.transaction import commit
from dinamis.dsm import service
from dinamis.dsm.models import DsmRequest, DsmStatus
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.quota import service as quota
from dinamis.quota.models import LedgerTransaction
from tests.dsm.helpers import OVERLAP, aoi, make_world
from tests.helpers import outbox

D = Decimal


@pytest.fixture
def world(app, cast):
    with app.app_context():
        made = make_world([cast.entity_a, cast.entity_b])
        commit()
        return made


def _user(email):
    return accounts.get_user_by_email(email)


def ask(scene_id, area=None, **changes):
    values = {
        "scene_id": scene_id,
        "aoi": area,
        "resolution_m": None,
        "project_title": "Dunes",
        "project_description": "Heights of the coastal dunes.",
        "theme": "coast",
    }
    values.update(changes)
    return service.DsmAsk(**values)


def _counts():
    return (
        db.session.scalar(select(func.count()).select_from(DsmRequest)),
        db.session.scalar(select(func.count()).select_from(LedgerTransaction)),
    )


def _jobs():
    return db.session.execute(
        text(
            "SELECT id, status::text, args FROM procrastinate_jobs "
            "WHERE task_name = 'compute_dsm' ORDER BY id"
        )
    ).all()


def test_a_request_over_the_whole_overlap_is_queued_and_reserved(app, cast, world):
    with app.app_context():
        user = _user(cast.user_a)
        request = service.submit(user, ask(world.pair[0]))
        assert request.status == DsmStatus.QUEUED
        area = geodesic_km2(aoi(*OVERLAP.bounds))
        assert request.aoi_km2 == area and request.charged_km2 == area
        assert request.free_km2 == area and request.cofunded_km2 == 0
        assert request.source_ids == world.pair and request.stereo_group == "PAIR_G"
        assert request.resolution_m == D("1")  # 2 x the GSD (0.5 m by default for Pléiades)
        ((job_id, status, args),) = _jobs()
        assert request.job_id == job_id and status == "todo"
        assert args == {"request_id": request.id}
        entity = db.session.get_one(Entity, cast.entity_a)
        held = quota.held_by(entity, "dsm", request.period, request.reference)
        assert held.free == area and held.cofunded == 0
        assert [e.to_status for e in request.events] == ["queued"]


def test_a_tri_stereo_group_and_a_chosen_resolution(app, cast, world):
    with app.app_context():
        request = service.submit(
            _user(cast.user_a),
            ask(world.triplet[1], aoi(3.05, 45.03, 3.15, 45.12), resolution_m=D("2")),
        )
        assert request.source_ids == world.triplet and request.resolution_m == D("2")
        assert service.resolutions(
            db.session.get(
                __import__("dinamis.catalogue.models", fromlist=["Scene"]).Scene, world.triplet[0]
            )
        ) == [D("0.5"), D("1"), D("2")]


@pytest.mark.parametrize(
    ("case", "field", "words"),
    [
        ("outside", "aoi", "beyond the ground"),
        ("small", "aoi", "at least 10"),
        ("large", "aoi", "at most 5"),
        ("mono", "scene_id", "not part of a stereo pair"),
        ("reserved", "scene_id", "profile may not download"),
        ("unknown", "scene_id", "no scene"),
        ("resolution", "resolution_m", "offered resolutions"),
        ("project", "project_title", "Required"),
    ],
)
def test_refused_requests_say_why_at_the_field_and_write_nothing(
    app, cast, world, case, field, words
):
    cases = {
        "outside": ask(world.pair[0], aoi(2.1, 45.05, 2.3, 45.1)),
        "small": ask(world.pair[0], aoi(2.05, 45.05, 2.06, 45.06)),
        "large": ask(world.pair[0]),
        "mono": ask(world.mono),
        "reserved": ask(world.reserved),
        "unknown": ask("NOPE"),
        "resolution": ask(world.pair[0], resolution_m=D("3")),
        "project": ask(world.pair[0], project_title="  "),
    }
    with app.test_request_context(headers={"Accept-Language": "en"}):
        if case == "large":
            app.config["DINAMIS_SETTINGS"].dsm.__dict__["max_km2"] = D("50")
        try:
            before = _counts()
            with pytest.raises(ServiceError) as refused:
                service.submit(_user(cast.user_a), cases[case])
            assert words in refused.value.fields[field], refused.value.fields
            db.session.rollback()
            assert _counts() == before
        finally:
            app.config["DINAMIS_SETTINGS"].dsm.__dict__["max_km2"] = D("500")


def test_beyond_the_allowance_the_referent_accepts_a_quote(app, cast, world):
    with app.app_context():
        entity = db.session.get_one(Entity, cast.entity_a)
        first = service.submit(_user(cast.user_a), ask(world.pair[0]))
        left = quota.balances(entity)
        (dsm,) = [b for b in left if b.family == "dsm"]
        second = service.submit(_user(cast.user_a), ask(world.pair[0], aoi(2.05, 45.0, 2.2, 45.1)))
        assert second.status == DsmStatus.AWAITING_QUOTE
        assert second.free_km2 == dsm.available
        assert second.cofunded_km2 == second.charged_km2 - dsm.available > 0
        assert second.eur_per_km2 == D("0.90")
        excluding = (second.cofunded_km2 * D("0.90")).quantize(D("0.01"))
        assert second.excluding_tax == excluding
        assert second.including_tax == excluding + (excluding * D("0.20")).quantize(D("0.01"))
        assert [j[2]["request_id"] for j in _jobs()] == [first.id]  # not queued yet
        commit()
        assert any(
            "co-funding quote" in m.subject or "devis" in m.subject
            for m in outbox(app, cast.referent_a)
        )
        with pytest.raises(ServiceError):
            service.decide_quote(_user(cast.user_a), second, True)  # not the Referent
        service.decide_quote(_user(cast.referent_a), second, True)
        assert second.status == DsmStatus.QUEUED
        held = quota.held_by(entity, "dsm", second.period, second.reference)
        assert held.free == second.free_km2 and held.cofunded == second.cofunded_km2
        assert [j[2]["request_id"] for j in _jobs()] == [first.id, second.id]
        with pytest.raises(Conflict):
            service.decide_quote(_user(cast.referent_a), second, False)


def test_declining_the_quote_cancels_and_releases(app, cast, world):
    with app.app_context():
        entity = db.session.get_one(Entity, cast.entity_a)
        service.submit(_user(cast.user_a), ask(world.pair[0]))
        second = service.submit(_user(cast.user_a), ask(world.pair[0], aoi(2.05, 45.0, 2.2, 45.1)))
        service.decide_quote(_user(cast.referent_a), second, False)
        assert second.status == DsmStatus.CANCELLED
        held = quota.held_by(entity, "dsm", second.period, second.reference)
        assert held.free == 0 and held.cofunded == 0


def test_cancelling_a_queued_request_cancels_its_job_and_releases(app, cast, world):
    with app.app_context():
        entity = db.session.get_one(Entity, cast.entity_a)
        request = service.submit(_user(cast.user_a), ask(world.pair[0]))
        with pytest.raises(ServiceError):
            service.cancel(_user(cast.user_b), request)  # another entity
        service.cancel(_user(cast.user_a), request, "wrong area")
        assert request.status == DsmStatus.CANCELLED
        assert [j[1] for j in _jobs()] == ["cancelled"]
        held = quota.held_by(entity, "dsm", request.period, request.reference)
        assert held.free == 0
        (dsm,) = [b for b in quota.balances(entity) if b.family == "dsm"]
        assert dsm.available == D("300.00") and dsm.reserved == 0
        with pytest.raises(Conflict):
            service.cancel(_user(cast.user_a), request)
        assert quota.trial_balance() == 0


def test_staff_and_visitors_cannot_request(app, cast, world):
    with app.app_context(), pytest.raises(ServiceError):
        service.submit(_user(cast.staff), ask(world.pair[0]))
