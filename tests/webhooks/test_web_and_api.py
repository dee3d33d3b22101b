"""The portal pages and the JSON API: the secret shown once, rotation, test event, refusals."""

from __future__ import annotations

import json
import re

from sqlalchemy import func, select

from dinamis.accounts import service as accounts
from dinamis.core.db import utcnow
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.webhooks import service
from dinamis.webhooks.models import DisabledReason, Webhook, WebhookDelivery
from tests.conftest import login
from tests.helpers import csrf_token

PUBLIC = "https://93.184.216.34/dinamis"
SECRET = re.compile(r'<code id="webhook-secret">(whsec_[\w-]+)</code>')


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_a_member_adds_a_webhook_and_sees_its_secret_once(app, cast, strict):
    client = app.test_client()
    login(client, cast.user_a)
    token = csrf_token(client, "/webhooks/")
    answer = client.post(
        "/webhooks/",
        data={"csrf_token": token, "url": PUBLIC, "description": "Lab", "order_events": "y"},
    )
    assert answer.status_code == 201
    page = answer.get_data(as_text=True)
    secret = SECRET.search(page).group(1)
    with app.app_context():
        webhook = db.session.scalars(select(Webhook)).one()
        assert webhook.secret == secret and webhook.order_events and webhook.url == PUBLIC
        webhook_id = webhook.id
    again = client.get(f"/webhooks/{webhook_id}").get_data(as_text=True)
    assert secret not in again and PUBLIC in again
    assert secret not in client.get("/webhooks/").get_data(as_text=True)
    # Rotating shows a new one, once (the old one signs beside it for a day: test_delivery).
    rotated = client.post(f"/webhooks/{webhook_id}/secret", data={"csrf_token": token})
    new = SECRET.search(rotated.get_data(as_text=True)).group(1)
    assert new != secret
    with app.app_context():
        assert db.session.get(Webhook, webhook_id).secret == new


def test_a_refused_url_is_shown_at_its_field_in_french_and_nothing_is_written(app, cast, strict):
    client = app.test_client()
    login(client, cast.user_a)  # a French reader
    token = csrf_token(client, "/webhooks/")
    answer = client.post(
        "/webhooks/", data={"csrf_token": token, "url": "http://10.0.0.7/hook", "description": ""}
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'id="url-error"' in page and "une adresse d&#39;un réseau privé" in page
    long = client.post("/webhooks/", data={"csrf_token": token, "url": PUBLIC + "/" + "a" * 2100})
    assert long.status_code == 422 and 'id="url-error"' in long.get_data(as_text=True)
    with app.app_context():
        assert _count(Webhook) == 0


def test_test_event_switch_off_and_on_and_delete_from_the_page(app, cast, strict):
    with app.app_context():
        owner = accounts.get_user_by_email(cast.user_a)
        webhook, _secret = service.create(owner, url=PUBLIC)
        commit()
        webhook_id = webhook.id
    client = app.test_client()
    login(client, cast.user_a)
    token = csrf_token(client, f"/webhooks/{webhook_id}")
    assert (
        client.post(f"/webhooks/{webhook_id}/test", data={"csrf_token": token}).status_code == 302
    )
    with app.app_context():
        [delivery] = db.session.scalars(select(WebhookDelivery))
        assert delivery.event == "webhook.test" and delivery.status == "pending"
    assert client.post(f"/webhooks/{webhook_id}/off", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        assert not webhook.active and webhook.disabled_reason == DisabledReason.OWNER
        assert db.session.scalars(select(WebhookDelivery.status)).one() == "cancelled"
    refused = client.post(f"/webhooks/{webhook_id}/test", data={"csrf_token": token})
    assert refused.status_code == 409
    assert client.post(f"/webhooks/{webhook_id}/on", data={"csrf_token": token}).status_code == 302
    # Without its CSRF token, a button does nothing.
    assert client.post(f"/webhooks/{webhook_id}/delete", data={}).status_code == 400
    assert (
        client.post(f"/webhooks/{webhook_id}/delete", data={"csrf_token": token}).status_code == 302
    )
    with app.app_context():
        assert _count(Webhook) == 0


def test_staff_see_failures_and_switch_a_webhook_off_that_its_owner_cannot_switch_on(
    app, cast, strict
):
    with app.app_context():
        owner = accounts.get_user_by_email(cast.user_a)
        webhook, _secret = service.create(owner, url=PUBLIC)
        webhook.consecutive_failures, webhook.last_error = 3, "HTTP 502"
        webhook.last_failure_at = utcnow()
        commit()
        webhook_id = webhook.id
    staff = app.test_client()
    login(staff, cast.staff)
    page = staff.get("/admin/webhooks/").get_data(as_text=True)
    assert PUBLIC in page and "HTTP 502" in page and cast.user_a in page
    token = csrf_token(staff, "/admin/webhooks/")
    done = staff.post(f"/admin/webhooks/{webhook_id}/off", data={"csrf_token": token})
    assert done.status_code == 302
    member = app.test_client()
    login(member, cast.user_a)
    token = csrf_token(member, f"/webhooks/{webhook_id}")
    assert member.post(f"/webhooks/{webhook_id}/on", data={"csrf_token": token}).status_code == 403
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        assert webhook.disabled_reason == DisabledReason.STAFF and not webhook.active


def _bearer(app, email: str) -> dict[str, str]:
    with app.app_context():
        _token, clear = accounts.create_api_token(accounts.get_user_by_email(email), "hooks")
        commit()
    return {"Authorization": f"Bearer {clear}"}


def test_the_api(app, cast, strict):
    client, auth = app.test_client(), _bearer(app, cast.user_a)
    created = client.post("/api/v1/webhooks", json={"url": PUBLIC}, headers=auth)
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    secret, webhook_id = body["secret"], body["id"]
    assert secret.startswith("whsec_") and body["order_events"] is True and body["active"]
    read = client.get(f"/api/v1/webhooks/{webhook_id}", headers=auth).get_json()
    assert "secret" not in read and read["url"] == PUBLIC
    listed = client.get("/api/v1/webhooks", headers=auth).get_json()
    assert [w["id"] for w in listed["webhooks"]] == [webhook_id]
    assert secret not in json.dumps(listed) and "secret" not in listed["webhooks"][0]
    patched = client.patch(
        f"/api/v1/webhooks/{webhook_id}",
        json={"order_events": False, "active": False, "description": "off for now"},
        headers=auth,
    ).get_json()
    assert (patched["order_events"], patched["active"], patched["disabled_reason"]) == (
        False,
        False,
        "owner",
    )
    assert client.post(f"/api/v1/webhooks/{webhook_id}/test", headers=auth).status_code == 409
    client.patch(f"/api/v1/webhooks/{webhook_id}", json={"active": True}, headers=auth)
    assert client.post(f"/api/v1/webhooks/{webhook_id}/test", headers=auth).status_code == 202
    rotated = client.post(f"/api/v1/webhooks/{webhook_id}/secret", headers=auth).get_json()
    assert rotated["secret"] != secret
    # Another member cannot read, change or delete it.
    other = _bearer(app, cast.user_b)
    assert client.get(f"/api/v1/webhooks/{webhook_id}", headers=other).status_code == 403
    assert (
        client.patch(f"/api/v1/webhooks/{webhook_id}", json={"url": "x"}, headers=other).status_code
        == 403
    )
    assert client.delete(f"/api/v1/webhooks/{webhook_id}", headers=other).status_code == 403
    assert client.delete(f"/api/v1/webhooks/{webhook_id}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/webhooks/{webhook_id}", headers=auth).status_code == 404


def test_the_api_refuses_bad_input_with_a_message_per_field(app, cast, strict):
    client, auth = app.test_client(), {**_bearer(app, cast.user_b), "Accept-Language": "en"}
    refused = client.post(
        "/api/v1/webhooks",
        json={"url": "http://169.254.169.254/latest", "description": "x" * 201},
        headers=auth,
    )
    assert refused.status_code == 422
    fields = refused.get_json()["error"]["fields"]
    assert set(fields) == {"description"}  # the model's own limits first
    refused = client.post(
        "/api/v1/webhooks", json={"url": "http://169.254.169.254/latest"}, headers=auth
    )
    assert refused.status_code == 422
    assert "169.254.169.254" in refused.get_json()["error"]["fields"]["url"]
    for body in ({"url": 5}, {"url": PUBLIC, "order_events": "yes"}, {"url": PUBLIC, "x": 1}):
        answer = client.post("/api/v1/webhooks", json=body, headers=auth)
        assert answer.status_code == 422, body
    assert client.post("/api/v1/webhooks", json=[], headers=auth).status_code == 400
    assert client.post("/api/v1/webhooks", data="{", headers=auth).status_code == 400
    with app.app_context():
        assert _count(Webhook) == 0


def test_an_id_beyond_the_integer_range_is_not_found_whatever_the_method(app, cast):
    client, auth = app.test_client(), _bearer(app, cast.user_a)
    for method in ("GET", "PATCH", "DELETE"):
        answer = client.open("/api/v1/webhooks/3985901217", method=method, headers=auth, json={})
        assert answer.status_code == 404, method
    assert client.post("/api/v1/webhooks/2147483648/test", headers=auth).status_code == 404


def test_hostile_form_input_is_refused_at_its_field(app, cast, strict):
    client = app.test_client()
    login(client, cast.user_a)
    token = csrf_token(client, "/webhooks/")
    nul = client.post("/webhooks/", data={"csrf_token": token, "url": PUBLIC + "\x00"})
    assert nul.status_code == 400
    blank = client.post("/webhooks/", data={"csrf_token": token, "url": "   "})
    assert blank.status_code == 422 and 'id="url-error"' in blank.get_data(as_text=True)
    long = client.post(
        "/webhooks/", data={"csrf_token": token, "url": PUBLIC, "description": "d" * 201}
    )
    assert long.status_code == 422 and 'id="description-error"' in long.get_data(as_text=True)
    unknown = client.get("/webhooks/2147483647")
    assert unknown.status_code == 404
    with app.app_context():
        assert _count(Webhook) == 0
