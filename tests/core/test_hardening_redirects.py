"""Open redirects: `next` only ever leads to a path on this site."""

from __future__ import annotations

import pytest

from dinamis.core.web import is_local_path
from tests.conftest import PASSWORD, login
from tests.helpers import csrf_token

# The forms browsers read as another origin, raw and encoded, as they reach the app
# once the query string is decoded.
BYPASSES = [
    "////evil.example/phish",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "http:evil.example",
    "http://evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "\t//evil.example",
    " //evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%255C%255Cevil.example",
    "/%09/evil.example",
    "/\x00/evil.example",
]


@pytest.mark.parametrize("target", BYPASSES)
def test_bypass_forms_are_not_local(target):
    assert not is_local_path(target)


@pytest.mark.parametrize("target", ["/", "/orders/3", "/catalogue/?q=a%20b&page=2", "/account#x"])
def test_local_paths_are_kept(target):
    assert is_local_path(target)


@pytest.mark.parametrize("target", BYPASSES)
def test_sign_in_never_leads_off_site(client, cast, target):
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": cast.user_a, "password": PASSWORD, "csrf_token": token},
    )
    if "\x00" in target:  # a NUL anywhere is refused for the whole app (core/boundary.py)
        assert response.status_code == 400
        assert client.get("/login", query_string={"next": target}).status_code == 400
        return
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    # And at once for a signed-in user.
    again = client.get("/login", query_string={"next": target})
    assert again.status_code == 302 and again.headers["Location"] == "/"


def test_sign_in_follows_a_local_next(client, cast):
    login(client, cast.user_a)
    response = client.get("/login?next=/orders/")
    assert response.headers["Location"] == "/orders/"
