"""Membership: the request, the Legal Representative, staff's decision, the certificate."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from dinamis.accounts.models import User
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import AuditEvent, Entity, LegalDocument, MembershipRequest
from dinamis.membership.service import siret_is_valid
from tests.conftest import login
from tests.helpers import csrf_token, outbox

VALID_SIRET = "73282932000074"  # Luhn-valid


def test_siret_checksum():
    assert siret_is_valid(VALID_SIRET)
    assert siret_is_valid("732 829 320 00074")
    assert not siret_is_valid("73282932000075")
    assert not siret_is_valid("1234")
    assert siret_is_valid("35600000000048")  # La Poste's head office


@pytest.fixture
def documents(app):
    with app.app_context():
        db.session.add_all(
            [
                LegalDocument(
                    kind="charter", code="charter", version="1.0", title="Charter", body="c"
                ),
                LegalDocument(kind="licence", code="lic", version="2.1", title="Licence", body="l"),
            ]
        )
        commit()


def _link(app, to, fragment):
    body = outbox(app, to=to)[-1].body_text
    return re.search(rf"http://\S+({fragment}\S+)", body).group(1)


def _start(client, email="rita@lab-new.test"):
    return client.post(
        "/join",
        data={
            "email": email,
            "first_name": "Rita",
            "last_name": "New",
            "csrf_token": csrf_token(client, "/join"),
        },
    )


DETAILS = {
    "entity_name": "Laboratoire Nouveau",
    "acronym": "LN",
    "country": "FR",
    "national_id_type": "siret",
    "national_id": VALID_SIRET,
    "address": "1 rue de la Science, Paris",
    "sector": "research",
    "parent_bodies": "CNRS",
    "website": "https://lab-new.test",
    "legal_rep_name": "Léa Director",
    "legal_rep_function": "Director",
    "legal_rep_email": "director@lab-new.test",
}


def _details(client, path, **changes):
    return client.post(path, data={**DETAILS, **changes, "csrf_token": csrf_token(client, path)})


def _through_legal_rep(app, client):
    assert _start(client).status_code == 200
    path = _link(app, "rita@lab-new.test", "/join/details/")
    assert _details(client, path).status_code == 200
    legal = _link(app, "director@lab-new.test", "/join/legal/")
    with app.app_context():
        ids = [d.id for d in db.session.scalars(select(LegalDocument))]
    token = csrf_token(client, legal)
    response = client.post(
        legal,
        data={
            "name": "Léa Director",
            "function": "Director",
            "documents": ids,
            "csrf_token": token,
        },
        headers={"User-Agent": "TestBrowser/1.0"},
    )
    assert response.status_code == 200
    return path, legal


def _request(app):
    with app.app_context():
        found = db.session.scalars(select(MembershipRequest)).one()
        db.session.expunge_all()
        return found


def test_the_whole_request_then_approval_and_certificate(app, client, cast, documents):
    path, legal = _through_legal_rep(app, client)
    found = _request(app)
    assert found.status == "awaiting_review"
    assert found.accepted_documents == ["charter v1.0", "lic v2.1"]
    assert found.legal_rep_user_agent == "TestBrowser/1.0" and found.legal_rep_accepted_at
    # links are single-use
    assert client.get(path).status_code == 400
    assert client.get(legal).status_code == 400

    login(client, cast.staff)
    queue = client.get("/admin/memberships?status=awaiting_review").get_data(as_text=True)
    assert f'href="/admin/memberships/{found.id}"' in queue  # the queue lists it
    page = client.get(f"/admin/memberships/{found.id}").get_data(as_text=True)
    profile = re.search(r'<option value="(\d+)">French research', page).group(1)
    token = csrf_token(client, f"/admin/memberships/{found.id}")
    approved = client.post(
        f"/admin/memberships/{found.id}/approve", data={"profile": profile, "csrf_token": token}
    )
    assert approved.status_code == 302
    with app.app_context():
        entity = db.session.scalar(select(Entity).where(Entity.name == "Laboratoire Nouveau"))
        referent = db.session.scalar(select(User).where(User.email == "rita@lab-new.test"))
        assert entity.membership_end.year - entity.membership_start.year == 3
        assert referent.is_referent and referent.entity_id == entity.id
        assert db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "membership.approved")
        )
        entity_id = entity.id
    certificate_mail = outbox(app, to="director@lab-new.test")[-1]
    (attachment,) = certificate_mail.attachments
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(attachment.content)).pages)
    assert "Laboratoire Nouveau" in text and "Léa Director" in text and "Charter (v1.0)" in text
    code = re.search(r"/verify/(\S+)", certificate_mail.body_text).group(1)
    assert code in text
    verified = client.get(f"/verify/{code}").get_data(as_text=True)
    assert "Laboratoire Nouveau" in verified
    assert client.get("/verify/forged-code").status_code == 404
    # the Referent sets a password through the e-mailed link
    reset = _link(app, "rita@lab-new.test", "/reset-password/")
    token = csrf_token(client, reset)
    client.post(
        reset,
        data={"password": "a-good-password", "confirm": "a-good-password", "csrf_token": token},
    )
    other = app.test_client()
    login(other, "rita@lab-new.test", "a-good-password")
    assert other.get(f"/entities/{entity_id}/certificate.pdf").data.startswith(b"%PDF")


def test_staff_reject_with_a_reason(app, client, cast, documents):
    _through_legal_rep(app, client)
    found = _request(app)
    login(client, cast.staff)
    token = csrf_token(client, f"/admin/memberships/{found.id}")
    empty = client.post(
        f"/admin/memberships/{found.id}/reject", data={"reason": " ", "csrf_token": token}
    )
    assert empty.status_code == 422
    client.post(
        f"/admin/memberships/{found.id}/reject",
        data={"reason": "Not a public body", "csrf_token": token},
    )
    assert _request(app).status == "rejected"
    assert "Not a public body" in outbox(app, to="rita@lab-new.test")[-1].body_text
    again = client.post(
        f"/admin/memberships/{found.id}/approve", data={"profile": "1", "csrf_token": token}
    )
    assert again.status_code == 409


def test_refusals_on_the_way(app, client, cast, documents):
    webmail = _start(client, "someone@gmail.com")
    assert webmail.status_code == 422 and "gmail.com" in webmail.get_data(as_text=True)
    assert _start(client, cast.user_a).status_code == 409  # already has an account
    assert _start(client).status_code == 200
    assert _start(client).status_code == 409  # a request is under way
    path = _link(app, "rita@lab-new.test", "/join/details/")
    assert _details(client, path, national_id="73282932000075").status_code == 422
    assert _details(client, path, legal_rep_email="boss@hotmail.com").status_code == 422
    assert _details(client, path, entity_name="x" * 301).status_code == 422
    duplicate = _details(
        client, path, entity_name="laboratoire a", national_id="OTHER", national_id_type="other"
    )
    assert duplicate.status_code == 409
    assert "Laboratoire A" in duplicate.get_data(as_text=True)
    assert _request(app).status == "details_to_give"
    # the Legal Representative must accept every document
    _details(client, path)
    legal = _link(app, "director@lab-new.test", "/join/legal/")
    token = csrf_token(client, legal)
    with app.app_context():
        first = db.session.scalars(select(LegalDocument)).first().id
    partial = client.post(
        legal, data={"name": "L", "function": "D", "documents": [first], "csrf_token": token}
    )
    assert partial.status_code == 422
    assert _request(app).status == "awaiting_legal_rep"
    assert client.get("/join/legal/forged").status_code == 400


def test_expired_confirmation_link_is_refused(app, client, cast, documents):
    import time

    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    assert _start(client).status_code == 200
    found = _request(app)

    class SignedLongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 4 * 24 * 3600  # links to confirm live 3 days

    old = URLSafeTimedSerializer(
        app.config["SECRET_KEY"], salt="dinamis.membership-email", signer=SignedLongAgo
    ).dumps({"id": found.id, "s": "email_to_confirm"})
    response = client.get(f"/join/details/{old}")
    assert response.status_code == 400
    assert _request(app).status == "email_to_confirm"


def test_the_requester_withdraws(app, client, cast, documents):
    assert _start(client).status_code == 200
    path = _link(app, "rita@lab-new.test", "/join/details/")
    token = csrf_token(client, path)
    assert client.post(path + "/withdraw", data={"csrf_token": token}).status_code == 302
    assert _request(app).status == "withdrawn"
    assert client.get(path).status_code == 400
    assert _start(client).status_code == 200  # a new request is possible again
