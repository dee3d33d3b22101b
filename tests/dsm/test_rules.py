"""The rules of a surface-model request, through the service and the API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from dinamis.accounts import service as accounts
from dinamis.core import dates
from dinamis.core.errors import Conflict, ServiceError
from dinamis.core.geo import geodesic_km2
from dinamis.core.transaction import commit
from dinamis.dsm import service
from dinamis.dsm.models import DsmRequest, DsmStatus
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.quota import service as quota
from dinamis.quota.models import LedgerTransaction
from tests.conftest import login
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


def _awaiting_quote(cast, world):
    """A request beyond the allowance: its co-funding quote waits for the Referent."""
    service.submit(_user(cast.user_a), ask(world.pair[0]))
    second = service.submit(_user(cast.user_a), ask(world.pair[0], aoi(2.05, 45.0, 2.2, 45.1)))
    assert second.status == DsmStatus.AWAITING_QUOTE and second.cofunded_km2 > 0
    return second


def _releases(reference):
    return db.session.scalars(
        select(LedgerTransaction.idempotency_key)
        .where(LedgerTransaction.reference == reference, LedgerTransaction.kind == "release")
        .order_by(LedgerTransaction.id)
    ).all()


def test_an_expired_quote_expires_as_orders_quotes_do(app, cast, world):
    """Past its last valid day, the nightly expiry (orders' and DSM quotes together) cancels
    the request, releases its km² by an appended posting and tells the requester."""
    from dinamis.orders.cli import expire_all

    with app.app_context():
        entity = db.session.get_one(Entity, cast.entity_a)
        request = _awaiting_quote(cast, world)
        last_day = request.quote_valid_until
        assert last_day == dates.today() + dt.timedelta(days=30)
        assert service.quote_state(request, last_day) == "pending"
        assert service.expire_quotes(last_day) == []  # still valid on its last day
        assert service.quote_state(request, last_day + dt.timedelta(days=1)) == "expired"
        commit()
        before = len(outbox(app, cast.user_a))
        ledger_before = _counts()[1]
        said = expire_all(last_day + dt.timedelta(days=1))
        assert said == "0 order(s) expired, 1 surface-model quote(s) expired"
        assert request.status == DsmStatus.CANCELLED
        assert request.events[-1].note == "quote_expired"
        assert service.event_note(request.events[-1]) == "Le devis a expiré."
        assert service.quote_state(request) == "expired"
        held = quota.held_by(entity, "dsm", request.period, request.reference)
        assert held.free == 0 and held.cofunded == 0
        assert _releases(request.reference) == [
            f"release:{request.reference}:dsm:{request.period}:quote-expired"
        ]
        assert _counts()[1] == ledger_before + 1  # one posting appended, nothing rewritten
        assert quota.trial_balance() == 0
        commit()
        news = outbox(app, cast.user_a)[before:]
        assert len(news) == 1 and request.number in news[0].subject
        assert "Le devis a expiré." in news[0].body_text
        assert expire_all(last_day + dt.timedelta(days=2)).endswith(
            "0 surface-model quote(s) expired"
        )


def test_deciding_on_an_expired_quote_is_refused_and_expires_it(app, cast, world):
    with app.app_context():
        request = _awaiting_quote(cast, world)
        late = request.quote_valid_until + dt.timedelta(days=1)
        with pytest.raises(Conflict, match="expiré le"):
            service.decide_quote(_user(cast.referent_a), request, True, today=late)
        assert request.status == DsmStatus.CANCELLED
        assert _releases(request.reference)[-1].endswith(":quote-expired")
        assert [j[2]["request_id"] for j in _jobs()] == [request.id - 1]  # never queued
        assert quota.trial_balance() == 0


def test_the_page_and_the_api_show_the_quote_expired(app, client, cast, world):
    """Before the nightly task has run, an undecided quote past its day shows as expired and
    offers no decision."""
    from dinamis.dsm.models import DsmRequest as Model

    with app.app_context():
        request = _awaiting_quote(cast, world)
        request_id = request.id
        commit()
    login(client, cast.referent_a)
    page = client.get(f"/dsm/{request_id}").get_data(as_text=True)
    assert "État : en attente." in page and f"/dsm/{request_id}/quote/accept" in page
    with app.app_context():
        found = db.session.get_one(Model, request_id)
        found.quote_valid_until = dates.today() - dt.timedelta(days=1)
        commit()
    page = client.get(f"/dsm/{request_id}").get_data(as_text=True)
    assert "État : expirée." in page and f"/dsm/{request_id}/quote/accept" not in page
    with app.app_context():
        user = _user(cast.referent_a)
        _token, clear = accounts.create_api_token(user, "t")
        commit()
    answer = client.get(
        f"/api/v1/dsm-requests/{request_id}", headers={"Authorization": f"Bearer {clear}"}
    ).get_json()
    assert answer["quote"]["status"] == "expired"
    refused = client.post(
        f"/api/v1/dsm-requests/{request_id}/quote/accept",
        headers={"Authorization": f"Bearer {clear}"},
    )
    assert refused.status_code == 409
    with app.app_context():  # refused: the request's transaction rolled back
        assert db.session.get_one(Model, request_id).status == DsmStatus.AWAITING_QUOTE


def test_the_quote_pdf_is_the_orders_quote_page(app, client, cast, world):
    """The co-funding quote of a surface model, as an order's: who, what, how much, until."""
    import io

    from flask_babel import force_locale
    from pypdf import PdfReader

    from dinamis.core.formats import day, number

    with app.app_context():
        request = _awaiting_quote(cast, world)
        within = db.session.scalars(
            select(DsmRequest).where(DsmRequest.status == DsmStatus.QUEUED)
        ).one()
        request_id, within_id = request.id, within.id
        commit()
    login(client, cast.user_a)
    answer = client.get(f"/dsm/{request_id}/quote.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert f"dinamis-quote-Q-D-{request_id:06d}.pdf" in answer.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(answer.data))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    lines = [" ".join(line.split()) for line in text.splitlines()]
    with app.app_context(), force_locale("fr"):

        def n(value):
            return " ".join(number(value).split())

        request = db.session.get_one(DsmRequest, request_id)
        assert f"Devis de cofinancement Q-D-{request_id:06d}" in " ".join(lines)
        assert request.entity.name in text and "Modèle de surface" in text
        assert request.number in text and "PHR_PAIR_1, PHR_PAIR_2" in text
        assert f"{n(request.aoi_km2)} km²" in " ".join(lines)
        assert request.quote_valid_until is not None and day(request.quote_valid_until) in text
        assert request.eur_per_km2 is not None and request.including_tax is not None
        for figures in (
            f"{n(request.charged_km2)}",
            f"{n(request.free_km2)} 0,00 0,00",
            f"{n(request.cofunded_km2)} {n(request.eur_per_km2)} {n(request.excluding_tax)}",
            f"{n(request.including_tax)} €",
        ):
            assert any(line.endswith(figures) for line in lines), (figures, lines)
        assert "Un devis refusé ou expiré annule la demande." in " ".join(lines)
    page = client.get(f"/dsm/{request_id}").get_data(as_text=True)
    assert f'href="/dsm/{request_id}/quote.pdf"' in page
    assert client.get(f"/dsm/{within_id}/quote.pdf").status_code == 404  # no quote
    other = app.test_client()
    login(other, cast.user_b)
    assert other.get(f"/dsm/{request_id}/quote.pdf").status_code == 403
    with app.app_context():
        _token, clear = accounts.create_api_token(_user(cast.referent_a), "t")
        commit()
    api = client.get(
        f"/api/v1/dsm-requests/{request_id}/quote.pdf",
        headers={"Authorization": f"Bearer {clear}"},
    )
    assert api.status_code == 200 and api.data[:5] == b"%PDF-"


def test_the_dsm_collection_is_in_stac_from_the_first_request(app, client, cast, world):
    assert client.get("/stac/collections/dsm").status_code == 404
    with app.app_context():
        service.submit(_user(cast.user_a), ask(world.pair[0]))
        commit()
    found = client.get("/stac/collections/dsm")
    assert found.status_code == 200 and found.get_json()["id"] == "dsm"
    listed = client.get("/stac/collections").get_json()
    assert "dsm" in [c["id"] for c in listed["collections"]]
    assert client.get("/stac/collections/dsm/items").get_json()["features"] == []
