"""What a refused form says is at the field, true, and in the reader's language
(found by the edges sweep of the live portal)."""

from __future__ import annotations

import json
import re

import pytest

from dinamis.core.errors import ServiceError
from dinamis.core.geo import parse_aoi
from tests.conftest import login
from tests.helpers import form_tokens


def _error(html: str, field_id: str) -> str:
    found = re.search(rf'id="{re.escape(field_id)}-error">([^<]*)<', html)
    return found.group(1) if found else ""


@pytest.mark.parametrize(
    "area",
    [
        {"type": "Feature", "geometry": None, "properties": {}},
        {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}}]},
        {"coordinates": [[[1, 43], [2, 43], [2, 44], [1, 43]]]},
    ],
)
def test_an_area_without_a_geometry_type_is_refused_in_french(app, area):
    with (
        app.test_request_context(headers={"Accept-Language": "fr"}),
        pytest.raises(ServiceError) as refused,
    ):
        parse_aoi(json.dumps(area))
    message = refused.value.message
    assert "nothing" not in message  # an English word in the French sentence, before
    assert "polygone" in message


@pytest.mark.parametrize("typed", ["2027-02-30", "0000-00-00", "31/12/2027"])
def test_a_tasking_window_date_that_is_no_date_says_so_not_required(app, client, cast, typed):
    from tests.orders.test_web import _form, _setup

    _setup(app, cast)
    login(client, cast.user_a)
    response = client.post(
        "/orders/tasking/new",
        data=_form(client, window_start=typed),
        headers={"Accept-Language": "fr"},
    )
    assert response.status_code == 422
    message = _error(response.get_data(as_text=True), "window_start")
    assert message and "requis" not in message  # it was given: it is not a date


def test_the_webhook_channel_without_a_webhook_says_so_at_the_field(app, client, cast):
    login(client, cast.user_a)
    response = client.post(
        "/alerts/new",
        data={
            **form_tokens(client, "/alerts/new"),
            "name": "Coast",
            "aoi": "43.6, 1.44",
            "when": "from_now",
            "frequency": "daily",
            "channel": "webhook",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert _error(html, "webhook_id")  # the summary says "see the messages beside each"
