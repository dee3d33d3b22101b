"""The portal: a request from a scene's page, refusals at the fields, a request's page,
its progress, cancelling, the quote, the quota statement."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import select

from dinamis.core.transaction import commit
from dinamis.dsm.models import DsmRequest
from dinamis.extensions import db
from tests.conftest import login
from tests.dsm.helpers import make_world
from tests.helpers import csrf_token, form_tokens

D = Decimal


@pytest.fixture
def world(app, cast):
    with app.app_context():
        made = make_world([cast.entity_a, cast.entity_b], allowance=D("100"))
        commit()
        return made


def _form(client, scene_id, **changes):
    data = {
        **form_tokens(client, f"/dsm/new?scene={scene_id}"),
        "scene_id": scene_id,
        "aoi": json.dumps(mapping(box(2.05, 45.02, 2.15, 45.1))),
        "resolution_m": "1",
        "project_title": "Dunes",
        "project_description": "Heights of the coastal dunes.",
        "theme": "coast",
    }
    data.update(changes)
    return data


def test_from_a_scene_page_to_a_queued_request(app, client, cast, world):
    login(client, cast.user_a)
    scene = client.get("/catalogue/scenes/PHR_PAIR_1").get_data(as_text=True)
    assert "/dsm/new?scene=PHR_PAIR_1" in scene
    mono = client.get("/catalogue/scenes/PHR_MONO").get_data(as_text=True)
    assert "/dsm/new" not in mono
    # Asked for all the same: why not, and no "from the 1 images of the stereo group".
    alone = client.get("/dsm/new?scene=PHR_MONO").get_data(as_text=True)
    assert 'id="dsm-refusal"' in alone and "groupe stéréo de PHR_MONO" not in alone
    page = client.get("/dsm/new?scene=PHR_PAIR_1").get_data(as_text=True)
    assert 'id="footprints"' in page and "0,5 m" in page and "1 m (par défaut)" in page
    sent = client.post("/dsm/new", data=_form(client, "PHR_PAIR_1"))
    assert sent.status_code == 302, sent.get_data(as_text=True)[:3000]
    with app.app_context():
        (request,) = db.session.scalars(select(DsmRequest)).all()
        assert request.status == "queued" and request.resolution_m == D("1")
        number, request_id = request.number, request.id
        commit()
    shown = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert number in shown and 'id="dsm-progress"' in shown and "dsm-progress.js" in shown
    progress = client.get(f"/dsm/{request_id}/progress").get_json()
    assert progress == {
        "status": "queued",
        "status_words": "en file d'attente",
        "progress": 0,
        "message": "",
        "ended": False,
    }
    listed = client.get("/dsm/").get_data(as_text=True)
    assert number in listed
    statement = client.get(f"/quota/{cast.entity_a}").get_data(as_text=True)
    assert f'href="/dsm/{request_id}">{number}</a>' in statement
    token = csrf_token(client, f"/dsm/{request_id}")
    cancelled = client.post(f"/dsm/{request_id}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 302
    assert "annulée" in client.get(f"/dsm/{request_id}").get_data(as_text=True)


def test_the_whole_overlap_when_nothing_is_drawn(app, client, cast, world):
    login(client, cast.user_a)
    sent = client.post("/dsm/new", data=_form(client, "PHR_TRI_1", aoi="", whole="y"))
    assert sent.status_code == 302
    with app.app_context():
        (request,) = db.session.scalars(select(DsmRequest)).all()
        assert request.source_ids == world.triplet
        commit()


@pytest.mark.parametrize(
    ("changes", "field_id", "words"),
    [
        ({"aoi": json.dumps(mapping(box(2.1, 45.05, 2.3, 45.1)))}, "aoi", "overlap"),
        ({"aoi": json.dumps(mapping(box(2.05, 45.05, 2.06, 45.06)))}, "aoi", "at least 10"),
        ({"aoi": "", "whole": ""}, "aoi", "Required"),
        ({"aoi": "{not json"}, "aoi", ""),
        ({"resolution_m": "7"}, "resolution_m", "Not a valid choice"),
        ({"project_title": ""}, "project_title", "required"),
    ],
)
def test_a_refused_form_says_why_at_the_field(app, client, cast, world, changes, field_id, words):
    login(client, cast.user_b)  # in English
    answer = client.post("/dsm/new", data=_form(client, "PHR_PAIR_1", **changes))
    assert answer.status_code == 422, answer.status_code  # the form's own checks
    page = answer.get_data(as_text=True)
    assert f'id="{field_id}-error"' in page, page[:200]
    assert words in page
    with app.app_context():
        assert db.session.scalars(select(DsmRequest)).all() == []
        commit()


def test_a_scene_the_profile_may_not_download_is_refused_on_its_form(app, client, cast, world):
    login(client, cast.user_a)  # research-fr; NEO_PAIR_1 is for public-fr
    page = client.get("/dsm/new?scene=NEO_PAIR_1").get_data(as_text=True)
    assert 'id="dsm-refusal"' in page and '<form method="post" enctype' not in page
    assert client.get("/dsm/new?scene=NOPE").status_code == 404
    assert client.get("/dsm/new").status_code == 404


def test_the_referent_accepts_the_quote_on_the_page(app, client, cast, world):
    login(client, cast.user_a)
    client.post("/dsm/new", data=_form(client, "PHR_PAIR_1"))  # about 70 of the 100 km²
    client.post("/dsm/new", data=_form(client, "PHR_PAIR_1"))  # beyond: a quote
    with app.app_context():
        quoted = db.session.scalars(
            select(DsmRequest).where(DsmRequest.status == "awaiting_quote")
        ).one()
        request_id = quoted.id
        commit()
    page = client.get(f"/dsm/{request_id}").get_data(as_text=True)
    assert "Accepter le devis" not in page  # the requester does not decide
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, cast.referent_a)
    page = client.get(f"/dsm/{request_id}").get_data(as_text=True)
    assert "Accepter le devis" in page
    token = csrf_token(client, f"/dsm/{request_id}")
    decided = client.post(f"/dsm/{request_id}/quote/accept", data={"csrf_token": token})
    assert decided.status_code == 302
    with app.app_context():
        assert db.session.get_one(DsmRequest, request_id).status == "queued"
        commit()


def test_staff_see_the_queue(app, client, cast, world):
    login(client, cast.user_a)
    client.post("/dsm/new", data=_form(client, "PHR_PAIR_1"))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, cast.staff)
    queue = client.get("/dsm/?status=queue").get_data(as_text=True)
    assert "D-" in queue and 'id="dsm-counts"' in queue
    assert client.get("/dsm/?status=nope").status_code == 400
    assert client.get("/dsm/new?scene=PHR_PAIR_1").status_code == 403
