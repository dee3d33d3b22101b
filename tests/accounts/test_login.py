from __future__ import annotations

import re

from tests.conftest import PASSWORD, login
from tests.helpers import csrf_token


def test_home_page_is_served_in_french_by_default(client):
    response = client.get("/")
    assert response.status_code == 200
    assert 'lang="fr"' in response.get_data(as_text=True)


def test_home_page_leads_each_visitor_to_what_they_can_do(app, client, cast):
    anonymous = client.get("/").get_data(as_text=True)
    assert 'href="/catalogue/"' in anonymous and 'href="/join"' in anonymous
    assert 'href="/orders/tasking/new"' not in anonymous
    login(client, cast.user_a)
    member = client.get("/").get_data(as_text=True)
    assert 'href="/orders/tasking/new"' in member and 'href="/quota/"' in member
    staff = app.test_client()
    login(staff, cast.staff)
    assert 'href="/orders/tasking/new"' not in staff.get("/").get_data(as_text=True)


def test_login_and_logout(client, cast):
    login(client, cast.user_a)
    page = client.get("/account").get_data(as_text=True)
    assert cast.user_a in page
    token = csrf_token(client, "/account")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/account").status_code == 302


def test_wrong_password_and_unknown_email_get_the_same_answer(client, cast):
    token = csrf_token(client, "/login")
    wrong = client.post(
        "/login", data={"email": cast.user_a, "password": "nope-nope-nope", "csrf_token": token}
    )
    unknown = client.post(
        "/login", data={"email": "nobody@labo-a.test", "password": PASSWORD, "csrf_token": token}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "mot de passe incorrect" in wrong.get_data(as_text=True)

    # The pages carry fresh CSRF tokens, signed with the second they were made:
    # compare everything else.
    def page(response):
        return re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", response.get_data(as_text=True))

    assert page(wrong) == page(unknown).replace("nobody@labo-a.test", cast.user_a)
