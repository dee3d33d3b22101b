"""The tasking form's preview states every limit the submission enforces, and the
form's numbers say what is wrong with them (issue 14, item 7)."""

from __future__ import annotations

import datetime as dt
import re

from shapely.geometry import mapping

from dinamis.core.dates import today as scheme_today
from tests.conftest import login
from tests.helpers import csrf_token
from tests.orders.helpers import square


def _preview(client, cast, language="en", **body):
    login(client, cast.user_a)
    client.post("/language", data={"language": language, "csrf_token": csrf_token(client, "/")})
    page = client.get("/orders/tasking/new").get_data(as_text=True)
    token = re.search(r'data-csrf="([^"]+)"', page).group(1)
    answer = client.post("/orders/coverage", json=body, headers={"X-CSRFToken": token})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def test_an_area_over_the_maximum_gets_the_limit_not_a_price(client, cast):
    # 1.3° x 1.3° at 45°N: about 20,000 km², twice the 10,000 km² maximum
    answer = _preview(client, cast, aoi=mapping(square(1.3)), sensor="pleiades", mode="mono")
    assert answer["refused"] == "true"
    assert "at most 10,000 km²" in answer["limits"]["aoi"]
    assert "Charged" not in answer["split"] and "Quote" not in answer["split"]


def test_the_preview_states_the_window_and_number_limits_of_the_submission(client, cast):
    today = scheme_today()
    answer = _preview(
        client,
        cast,
        aoi=mapping(square(0.15)),
        sensor="pleiades",
        mode="stereo",
        window_start=today.isoformat(),
        window_end=(today + dt.timedelta(days=400)).isoformat(),
        max_cloud_cover="1e309",
        max_incidence="75",
    )
    limits = answer["limits"]
    assert set(limits) == {"window_start", "window_end", "max_cloud_cover", "max_incidence"}
    assert "at most 365 days" in limits["window_end"]
    assert "Between 0 and 60 degrees" in limits["max_incidence"]
    problems = " ".join(answer["problems"])
    assert "Maximum cloud cover (%): Enter a whole number." in problems
    assert answer["split"].startswith("Charged")  # the area itself is within the limits


def test_the_preview_speaks_french_numbers(client, cast):
    answer = _preview(client, cast, language="fr", aoi=mapping(square(1.3)), sensor="pleiades")
    assert (
        "10\u202f000 km²" in answer["limits"]["aoi"] or "10\xa0000 km²" in answer["limits"]["aoi"]
    )


def test_a_huge_cloud_cover_is_not_called_missing(client, cast):
    login(client, cast.user_a)
    client.post("/language", data={"language": "en", "csrf_token": csrf_token(client, "/")})
    token = csrf_token(client, "/orders/tasking/new")
    page = client.post(
        "/orders/tasking/new",
        data={"csrf_token": token, "max_cloud_cover": "1e309", "max_incidence": "0"},
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    cloud = re.search(r'id="max_cloud_cover-error">([^<]*)<', html).group(1)
    assert "required" not in cloud and "whole number between 0 and 100" in cloud
    assert 'id="max_incidence-error"' not in html  # 0° is a value, not a missing one
