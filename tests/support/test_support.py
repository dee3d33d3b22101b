"""Support requests: anonymous and signed-in, staff answers, privacy, attachments."""

from __future__ import annotations

import re
from io import BytesIO

from sqlalchemy import select

from dinamis.extensions import db
from dinamis.support.models import Ticket
from tests.conftest import login
from tests.helpers import csrf_token, outbox


def _tickets(app):
    with app.app_context():
        tickets = db.session.scalars(select(Ticket).order_by(Ticket.id)).all()
        for t in tickets:
            _ = [m.attachment for m in t.messages]
        db.session.expunge_all()
        return tickets


def _open(client, **changes):
    data = {
        "csrf_token": csrf_token(client, "/support/new"),
        "subject": "Cannot download",
        "category": "catalogue",
        "body": "The download stops at 50 %.",
    }
    data.update(changes)
    return client.post("/support/new", data=data, content_type="multipart/form-data")


def _logout(client):
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def test_anonymous_visitor_opens_and_follows_a_request_by_its_link(app, client, cast):
    response = _open(client, name="Ana Nymous", email="ana@univ-x.test")
    assert response.status_code == 302
    (ticket,) = _tickets(app)
    assert ticket.requester_id is None and ticket.requester_email == "ana@univ-x.test"
    mail = outbox(app, to="ana@univ-x.test")[-1]
    assert f"/support/t/{ticket.access_key}" in mail.body_text
    page = client.get(f"/support/t/{ticket.access_key}").get_data(as_text=True)
    assert "The download stops" in page
    assert client.get("/support/t/not-the-key").status_code == 404

    # staff answer; the requester is mailed and can reply through the link
    login(client, cast.staff)
    token = csrf_token(client, f"/support/{ticket.id}")
    answer = client.post(
        f"/support/{ticket.id}/reply",
        data={"csrf_token": token, "body": "Try the basket's script."},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    assert "Try the basket" in outbox(app, to="ana@univ-x.test")[-1].body_text
    _logout(client)
    token = csrf_token(client, f"/support/t/{ticket.access_key}")
    again = client.post(
        f"/support/t/{ticket.access_key}/reply",
        data={"csrf_token": token, "body": "Thanks, it works."},
        content_type="multipart/form-data",
    )
    assert again.status_code == 302
    (ticket,) = _tickets(app)
    assert [m.from_staff for m in ticket.messages] == [False, True, False]
    assert ticket.status == "open"


def test_anonymous_needs_an_email(app, client):
    response = _open(client, name="X", email="not-an-email")
    assert response.status_code == 422
    assert _tickets(app) == []


def test_users_see_only_their_own_requests(app, client, cast):
    login(client, cast.user_a)
    assert _open(client).status_code == 302
    (ticket,) = _tickets(app)
    assert ticket.requester_email == cast.user_a
    assert client.get(f"/support/{ticket.id}").status_code == 200
    assert f'href="/support/{ticket.id}"' in client.get("/support/").get_data(as_text=True)
    _logout(client)
    login(client, cast.user_b)
    assert client.get(f"/support/{ticket.id}").status_code == 403
    token = csrf_token(client, "/support/new")
    assert (
        client.post(
            f"/support/{ticket.id}/reply", data={"csrf_token": token, "body": "hi"}
        ).status_code
        == 403
    )
    assert "Cannot download" not in client.get("/support/").get_data(as_text=True)
    assert (
        client.post(f"/support/{ticket.id}/assign", data={"csrf_token": token}).status_code == 403
    )


def test_attachments_are_checked(app, client, cast):
    login(client, cast.user_a)
    big = _open(client, attachment=(BytesIO(b"%PDF" + b"0" * (5 * 1024 * 1024)), "big.pdf"))
    assert big.status_code == 422
    exe = _open(client, attachment=(BytesIO(b"MZ\x90\x00"), "tool.exe"))
    assert exe.status_code == 422
    fake = _open(client, attachment=(BytesIO(b"MZ\x90\x00"), "invoice.pdf"))
    assert fake.status_code == 422
    assert _tickets(app) == []
    ok = _open(client, attachment=(BytesIO(b"%PDF-1.7 tiny"), "screen.pdf"))
    assert ok.status_code == 302
    (ticket,) = _tickets(app)
    attachment = ticket.messages[0].attachment
    download = client.get(f"/support/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == b"%PDF-1.7 tiny"
    _logout(client)
    assert client.get(f"/support/attachments/{attachment.id}").status_code == 403


def test_staff_assign_and_close(app, client, cast):
    login(client, cast.user_a)
    _open(client)
    (ticket,) = _tickets(app)
    _logout(client)
    login(client, cast.staff)
    page = client.get(f"/support/{ticket.id}").get_data(as_text=True)
    token = csrf_token(client, f"/support/{ticket.id}")
    staff_id = re.search(r'<option value="(\d+)">Staff Test</option>', page)
    assert staff_id, page
    assert (
        client.post(
            f"/support/{ticket.id}/assign",
            data={"csrf_token": token, "assignee": staff_id.group(1)},
        ).status_code
        == 302
    )
    assert client.post(f"/support/{ticket.id}/close", data={"csrf_token": token}).status_code == 302
    (ticket,) = _tickets(app)
    assert ticket.status == "closed" and ticket.assignee_id == int(staff_id.group(1))
    closed = client.post(f"/support/{ticket.id}/reply", data={"csrf_token": token, "body": "late"})
    assert closed.status_code == 409
