"""The Referent edits the entity: free details at once, legal data through staff."""

from __future__ import annotations

from dinamis.extensions import db
from dinamis.membership.models import Entity, EntityChange
from tests.conftest import login
from tests.helpers import csrf_token, outbox

VALID_SIRET = "73282932000074"


def _form(client, **changes):
    data = {
        "name": "Laboratoire A",
        "acronym": "",
        "country": "FR",
        "national_id": VALID_SIRET,
        "legal_rep_name": "Léa Director",
        "legal_rep_function": "Director",
        "legal_rep_email": "director@labo-a.test",
        "address": "2 rue Neuve",
        "sector": "research",
        "parent_bodies": "",
        "website": "https://labo-a.test",
        "email_domains": "labo-a.test, @LABO-A2.test",
        "csrf_token": csrf_token(client, "/entity/details"),
    }
    data.update(changes)
    return client.post("/entity/details", data=data)


def _prepare(app, cast):
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        entity.national_id, entity.national_id_type = VALID_SIRET, "siret"
        entity.legal_rep_name, entity.legal_rep_function = "Léa Director", "Director"
        entity.legal_rep_email = "director@labo-a.test"
        from dinamis.core.transaction import commit

        commit()


def _entity(app, cast):
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        db.session.expunge_all()
        return entity


def test_free_details_apply_and_legal_ones_wait_for_staff(app, client, cast):
    _prepare(app, cast)
    login(client, cast.referent_a)
    assert _form(client, name="Laboratoire Alpha").status_code == 302
    entity = _entity(app, cast)
    assert entity.address == "2 rue Neuve" and entity.email_domains == [
        "labo-a.test",
        "labo-a2.test",
    ]
    assert entity.name == "Laboratoire A"  # not yet
    assert "Laboratoire Alpha" in outbox(app, to=cast.staff)[-1].body_text
    again = _form(client, name="Laboratoire Beta")
    assert again.status_code == 409
    staff = app.test_client()
    login(staff, cast.staff)
    with app.app_context():
        change_id = db.session.query(EntityChange).one().id
    token = csrf_token(staff, "/admin/entity-changes")
    assert "Laboratoire Alpha" in staff.get("/admin/entity-changes").get_data(as_text=True)
    assert (
        staff.post(
            f"/admin/entity-changes/{change_id}/approve", data={"csrf_token": token}
        ).status_code
        == 302
    )
    assert _entity(app, cast).name == "Laboratoire Alpha"
    assert (
        staff.post(
            f"/admin/entity-changes/{change_id}/approve", data={"csrf_token": token}
        ).status_code
        == 409
    )


def test_bad_legal_data_and_clashes_are_refused(app, client, cast):
    _prepare(app, cast)
    login(client, cast.referent_a)
    assert _form(client, national_id="73282932000075").status_code == 422
    assert _form(client, legal_rep_email="boss@gmail.com").status_code == 422
    assert _form(client, name="Agence B").status_code == 302  # filed, then refused by staff
    staff = app.test_client()
    login(staff, cast.staff)
    with app.app_context():
        change_id = db.session.query(EntityChange).one().id
    token = csrf_token(staff, "/admin/entity-changes")
    assert (
        staff.post(
            f"/admin/entity-changes/{change_id}/approve", data={"csrf_token": token}
        ).status_code
        == 409
    )
    assert (
        staff.post(
            f"/admin/entity-changes/{change_id}/reject", data={"csrf_token": token}
        ).status_code
        == 422
    )
    assert (
        staff.post(
            f"/admin/entity-changes/{change_id}/reject",
            data={"csrf_token": token, "reason": "Name taken"},
        ).status_code
        == 302
    )


def test_only_the_referent_edits(app, client, cast):
    _prepare(app, cast)
    login(client, cast.user_a)
    assert client.get("/entity/details").status_code == 403
    deputy_token = None
    with app.app_context():
        from dinamis.accounts import service as accounts
        from dinamis.core.transaction import commit

        accounts.get_user_by_email(cast.user_a).entity_role = "deputy"
        commit()
    assert client.get("/entity/details").status_code == 200
    deputy_token = csrf_token(client, "/entity/details")
    response = client.post(
        "/entity/details",
        data={
            "csrf_token": deputy_token,
            "name": "X",
            "country": "FR",
            "national_id": VALID_SIRET,
            "legal_rep_name": "a",
            "legal_rep_function": "b",
            "legal_rep_email": "c@labo-a.test",
            "address": "d",
            "sector": "research",
        },
    )
    assert response.status_code == 403
