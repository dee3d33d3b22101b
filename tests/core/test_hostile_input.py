"""Hostile input never reaches a 500: huge ids, NUL characters, deeply nested JSON.

Each of these answered 500 before (a stack trace in the log, nothing written):
the checks live once for the whole app in `core/boundary.py`.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from flask import Flask

from dinamis.accounts import service as accounts
from dinamis.core.boundary import MAX_JSON_DEPTH, json_depth, parse_json
from dinamis.core.dates import today as scheme_today
from dinamis.core.errors import MalformedInput
from dinamis.core.transaction import commit
from tests.conftest import login
from tests.helpers import csrf_token

HUGE = "99999999999999999999"
BEYOND_INT = str(2**31)  # one more than PostgreSQL's integer holds


def _path_for(rule, number: str) -> str:
    """A concrete path for a URL rule: every `<int:...>` is `number`, the rest plausible."""

    def part(match: re.Match[str]) -> str:
        converter = match.group(1) or ""
        if converter.startswith("int"):
            return number
        if converter.startswith("any("):
            return re.findall(r"'?([\w-]+)'?", converter[4:])[0]
        return "x"

    return re.sub(r"<(?:([^:>]+(?:\([^)]*\))?):)?[^>]+>", part, rule.rule)


def _int_rules(app: Flask) -> list:
    return [r for r in app.url_map.iter_rules() if "<int" in r.rule]


@pytest.fixture
def staff_bearer(app, cast) -> dict[str, str]:
    with app.app_context():
        _token, clear = accounts.create_api_token(accounts.get_user_by_email(cast.staff), "t")
        commit()
    return {"Authorization": f"Bearer {clear}"}


@pytest.mark.parametrize("number", [HUGE, BEYOND_INT])
def test_every_id_in_a_path_beyond_the_integer_range_is_a_404(
    app, client, cast, staff_bearer, number
):
    rules = _int_rules(app)
    assert len(rules) > 30  # every kind of page: orders, API, quota, support, admin...
    login(client, cast.staff)
    token = csrf_token(client, "/account")
    for rule in rules:
        path = _path_for(rule, number)
        api = path.startswith("/api/")
        headers = staff_bearer if api else {}
        if "GET" in rule.methods:
            response = client.get(path, headers=headers)
        else:
            # The rule's own method: a path also served for GET by another rule
            # answers another method with 405, which says nothing about the id.
            method = "POST" if "POST" in rule.methods else sorted(rule.methods - {"OPTIONS"})[0]
            response = client.open(
                path,
                method=method,
                headers=headers,
                data=None if api else {"csrf_token": token, "comment": "x", "reason": "x"},
                json={} if api else None,
            )
        assert response.status_code == 404, (path, response.status_code)
        if api:
            assert response.json["error"]["code"] == "not_found"


def test_the_largest_integer_id_still_reaches_the_view(app, client, cast):
    login(client, cast.staff)
    response = client.get(f"/orders/{2**31 - 1}")
    assert response.status_code == 404  # the view's own "no such order"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/admin/memberships?entity={HUGE}", 200),  # the queue does not filter by entity
        (f"/orders/?entity={HUGE}", 400),
        (f"/reports/stats?entity={HUGE}", 400),
    ],
)
def test_an_id_beyond_the_integer_range_in_a_query_is_not_a_500(app, client, cast, path, status):
    login(client, cast.staff)
    response = client.get(path)
    assert response.status_code == status


def test_the_account_form_gives_back_a_huge_entity_with_a_message(app, client, cast):
    token = csrf_token(client, "/join/account")
    response = client.post(
        "/join/account",
        data={
            "csrf_token": token,
            "entity": HUGE,
            "email": "new.person@labo-a.test",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "job_title": "Researcher",
            "permanent": "y",
        },
        headers={"Accept-Language": "en"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Lovelace" in html  # the form is back, filled in
    assert "This entity does not exist." in html  # the entity field's message, at the field


# --- NUL characters ---------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/catalogue/?q=a%00b",
        "/stac/search?collections=a%00b",
        "/stac/collections/a%00b",
        "/catalogue/scenes/a%00b",
        "/join/account?q=%00",
        "/verify/a%00b",
        "/support/t/a%00b",
        "/join/details/a%00b",
        "/reset-password/a%00b",
        "/catalogue/dl/a%00b",
        "/login?next=/%00",
    ],
)
def test_a_nul_in_a_path_or_query_is_a_400_in_the_users_language(client, path):
    english = client.get(path, headers={"Accept-Language": "en"})
    assert english.status_code == 400, path
    if english.is_json and path.startswith("/stac"):  # the OGC API shape
        assert english.json["code"] == "nul_character"
        assert "NUL" in english.json["description"]
    elif english.is_json:
        assert english.json["error"]["code"] == "nul_character"
        assert "NUL" in english.json["error"]["message"]
    else:
        html = english.get_data(as_text=True)
        assert "NUL character" in html and "<nav" in html  # the styled page, in English
        french = client.get(path, headers={"Accept-Language": "fr"})
        assert french.status_code == 400
        assert "caractère NUL" in french.get_data(as_text=True)


def test_a_nul_in_a_form_field_is_a_400_page_not_a_500(client):
    token = csrf_token(client, "/support/new")
    response = client.post(
        "/support/new",
        data={
            "csrf_token": token,
            "subject": "Help\x00me",
            "category": "other",
            "body": "A question.",
            "email": "someone@example.test",
            "name": "Someone",
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)


def test_a_nul_in_an_uploaded_file_name_is_a_400(client):
    token = csrf_token(client, "/support/new")
    response = client.post(
        "/support/new",
        data={
            "csrf_token": token,
            "subject": "Help",
            "category": "other",
            "body": "A question.",
            "email": "someone@example.test",
            "name": "Someone",
            "attachment": (io.BytesIO(b"hello"), "a\x00b.txt"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400


def test_a_nul_in_a_json_value_or_key_is_a_400(client, cast, staff_bearer):
    for body in ({"reason": "a\x00b"}, {"a\x00": 1}, {"list": [[{"x": "\x00"}]]}):
        response = client.post("/api/v1/tasking-requests/1/cancel", json=body, headers=staff_bearer)
        assert response.status_code == 400, body
        assert response.json["error"]["code"] == "nul_character"
    # the escape written out as text is not a NUL character
    assert parse_json(r'{"a": "\\u0000"}') == {"a": "\\u0000"}


# --- Deeply nested JSON -----------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


def test_depth_is_counted_outside_strings():
    assert json_depth(b'{"a": [[1]]}') <= 3
    assert json_depth(("[" * 70 + "]" * 70).encode()) == 70
    assert json_depth(b'["' + b"[" * 1000 + b'"]') == 1
    assert json_depth(b'["\\"' + b"[" * 1000 + b'"]') == 1  # an escaped quote in the string
    with pytest.raises(MalformedInput):
        parse_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None


def test_deep_json_in_an_api_body_is_a_400(client, cast, staff_bearer):
    response = client.post(
        "/api/v1/tasking-requests",
        data=DEEP,
        content_type="application/json",
        headers=staff_bearer,
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "too_deep"
    assert str(MAX_JSON_DEPTH) in response.json["error"]["message"]


def test_deep_json_in_stac_search_is_a_400(client):
    post = client.post("/stac/search", data=DEEP, content_type="application/json")
    assert post.status_code == 400
    deep_geometry = '{"type": "Polygon", "coordinates": ' + DEEP + "}"
    get = client.get("/stac/search", query_string={"intersects": deep_geometry})
    assert get.status_code == 400
    assert str(MAX_JSON_DEPTH) in get.json["description"]
    body = {"intersects": json.loads("[" * 500 + "]" * 500)}
    assert client.post("/stac/search", json=body).status_code == 400


def test_deep_json_in_an_uploaded_geojson_is_a_400_naming_the_limit():
    from dinamis.core.errors import ServiceError
    from dinamis.core.geo_files import read_aoi_file

    deep = ('{"type": "Polygon", "coordinates": ' + DEEP + "}").encode()
    with pytest.raises(ServiceError) as refused:
        read_aoi_file("area.geojson", deep)
    assert refused.value.status == 400
    assert str(MAX_JSON_DEPTH) in refused.value.message


def test_deep_json_pasted_as_an_aoi_is_refused_with_a_message():
    from dinamis.core.errors import ServiceError
    from dinamis.core.geo import parse_aoi

    with pytest.raises(ServiceError) as refused:
        parse_aoi('{"type": "Polygon", "coordinates": ' + DEEP + "}")
    assert str(MAX_JSON_DEPTH) in refused.value.message


# --- Numbers in web forms ---------------------------------------------------


def test_a_deliverys_km2_that_is_not_a_finite_number_in_range_gives_the_form_back(
    app, client, cast
):
    import datetime as dt
    from decimal import Decimal

    from dinamis.extensions import db
    from dinamis.membership.models import Entity
    from dinamis.orders import service as orders
    from dinamis.quota import service as quota
    from tests.orders.helpers import tasking

    today = scheme_today()
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "tasking", quota.period_for(today), Decimal("1000"))
        staff = accounts.get_user_by_email(cast.staff)
        order = orders.submit_tasking(
            accounts.get_user_by_email(cast.user_a),
            tasking(
                window_start=today + dt.timedelta(days=10),
                window_end=today + dt.timedelta(days=70),
            ),
            today,
        )
        orders.review(staff, order, True, "ok")
        commit()
        order_id = order.id
    login(client, cast.staff)
    token = csrf_token(client, f"/orders/{order_id}")
    for km2 in ("NaN", "sNaN", "-NaN", "Infinity", "1e999", HUGE, "1e-999"):
        response = client.post(
            f"/orders/{order_id}/deliveries",
            data={"csrf_token": token, "scene_id": "PHR_1", "km2": km2, "reason": "x"},
            headers={"Accept-Language": "en"},
        )
        assert response.status_code == 422, km2
        assert 'value="PHR_1"' in response.get_data(as_text=True)  # the form is back


def test_a_deeply_nested_stac_page_token_is_a_400(client):
    import base64

    token = base64.urlsafe_b64encode(DEEP.encode()).decode().rstrip("=")
    response = client.get("/stac/search", query_string={"token": token})
    assert response.status_code == 400
    assert response.json["code"] == "bad_request"  # the OGC API shape


def test_a_deeply_nested_line_refuses_its_record_only_at_ingest(app, tmp_path):
    from dinamis.catalogue.ingest import ingest
    from tests.catalogue.test_ingest import COLLECTION, item

    path = tmp_path / "items.ndjson"
    lines = [json.dumps(COLLECTION), json.dumps(item(1)), DEEP, json.dumps(item(2))]
    path.write_text("\n".join(lines) + "\n")
    with app.app_context():
        report = ingest([path])
    assert (report.collections, report.items) == (1, 2)
    assert len(report.errors) == 1 and "nested too deeply" in report.errors[0]
    whole = tmp_path / "whole.json"
    whole.write_text(DEEP)
    with app.app_context():
        report = ingest([whole])
    assert "nested too deeply" in report.errors[0]


def test_a_quota_adjustment_that_is_not_a_finite_number_gives_the_form_back(app, client, cast):
    from tests.quota.test_views import _adjust_form

    login(client, cast.staff)
    token, key = _adjust_form(client, cast.entity_a)
    for amount in ("sNaN", "NaN", "-Infinity", "1e999", HUGE):
        response = client.post(
            f"/quota/{cast.entity_a}/adjust",
            data={
                "csrf_token": token,
                "key": key,
                "family": "tasking",
                "period": "2027",
                "amount": amount,
                "reason": "Extra coastal project",
            },
        )
        assert response.status_code == 422, amount
        assert "Extra coastal project" in response.get_data(as_text=True)


def test_a_forged_huge_id_in_a_form_is_a_400_not_a_500(app, client, cast):
    login(client, cast.referent_a)
    token = csrf_token(client, "/entity")
    response = client.post(
        "/entity/handover",
        data={"csrf_token": token, "user_id": HUGE},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert "<nav" in response.get_data(as_text=True)  # the styled page


def test_the_id_pattern_holds_exactly_postgresql_integers() -> None:
    """The route pattern of ids matches 0 to 2³¹-1 and nothing beyond, digit by digit."""
    import random

    from dinamis.core.boundary import PG_INTEGER_PATTERN

    pattern = re.compile(f"(?:{PG_INTEGER_PATTERN})\\Z")
    limit = 2**31 - 1
    edges = {limit - 10**k for k in range(10)} | {limit + 10**k for k in range(11)}
    edges |= {0, 9, 10, limit, limit + 1, 10**9, 2 * 10**9, 10**10, 10**20}
    generator = random.Random(31)
    samples = edges | {generator.randrange(0, 2**34) for _ in range(20_000)}
    for number in sorted(samples):
        assert bool(pattern.match(str(number))) == (number <= limit), number
    assert pattern.match("007")


@pytest.mark.parametrize(
    ("who", "path", "message"),
    [
        ("staff", "/admin/memberships?status=nope", "Valeur de filtre inconnue."),
        ("staff", "/support/?status=closed-ish", "Valeur de filtre inconnue."),
        ("staff", "/reports/?status=nope", "Valeur de filtre inconnue."),
        ("referent_b", "/reports/?status=nope", "Unknown filter value."),
        ("staff", "/orders/?kind=nope", "Valeur de filtre inconnue."),
        ("referent_b", "/orders/?entity=1x", "Unknown filter value."),
        ("staff", "/dsm/?status=nope", "Valeur de filtre inconnue."),
        ("referent_b", "/dsm/?status=nope", "Unknown filter value."),
        ("staff", "/quota/{entity}?period=1999-13", "Une période est une année"),
        ("referent_b", "/quota/{entity}?period=1999-13", "A period is a year (2027)"),
    ],
)
def test_a_refused_filter_says_why_in_the_users_language(app, client, cast, who, path, message):
    """A 400 on a list's filter names the fault in the user's language, not only "Bad request"."""
    login(client, getattr(cast, who))
    entity = cast.entity_b if who == "referent_b" else cast.entity_a
    response = client.get(path.format(entity=entity))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
