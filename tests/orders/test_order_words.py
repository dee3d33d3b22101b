"""Orders named as people know them: numbers on the ledger, reasons for "not orderable",
only the fields that apply to the kind of order."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from flask_babel import force_locale
from shapely.geometry import box

from dinamis.accounts import service as accounts
from dinamis.core.dates import today as scheme_today
from dinamis.core.errors import ServiceError
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders import archive
from dinamis.orders import service as orders
from dinamis.quota import service as quota
from tests.api.test_orders_api import archive_scenes  # noqa: F401 - the fixture
from tests.conftest import login
from tests.factories import make_collection, make_scene
from tests.orders.helpers import tasking

D = Decimal


def _archive_order(app, cast) -> int:
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        period = quota.period_for(scheme_today())
        quota.grant(entity, "archive", period, D("1000"))
        order = archive.submit_archive(
            accounts.get_user_by_email(cast.user_a),
            archive.ArchiveRequest(
                items=[archive.ArchiveItem("ARC_1")],
                project_title="Wetlands",
                project_description="Mapping.",
                justification="Archive image needed.",
                theme="water",
            ),
        )
        commit()
        return order.id


def _tasking_order(app, cast) -> int:
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        quota.grant(entity, "tasking", quota.period_for(scheme_today()), D("1000"))
        start = scheme_today() + dt.timedelta(days=10)
        order = orders.submit_tasking(
            accounts.get_user_by_email(cast.user_a),
            tasking(window_start=start, window_end=start + dt.timedelta(days=30)),
        )
        commit()
        return order.id


def test_the_ledger_names_orders_by_number_with_a_link(app, client, cast, archive_scenes):  # noqa: F811
    archive_id = _archive_order(app, cast)
    tasking_id = _tasking_order(app, cast)
    login(client, cast.user_a)
    page = client.get(f"/quota/{cast.entity_a}?period={scheme_today().year}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "order:" not in html
    assert f'<a href="/orders/{archive_id}">A-{archive_id:06d}</a>' in html
    assert f'<a href="/orders/{tasking_id}">T-{tasking_id:06d}</a>' in html
    # the CSV keeps the machine reference
    csv = client.get(f"/quota/{cast.entity_a}/statement.csv").get_data(as_text=True)
    assert f"order:{archive_id}" in csv


def test_a_member_who_cannot_open_the_order_sees_its_number_without_link(
    app,
    client,
    cast,
    archive_scenes,  # noqa: F811
):
    archive_id = _archive_order(app, cast)
    with app.app_context():
        entity = db.session.get(Entity, cast.entity_a)
        accounts.create_user(
            email="colleague@labo-a.test",
            first_name="Col",
            last_name="League",
            password="correct-horse-battery",
            role="user",
            entity=entity,
            entity_role="member",
            language="en",
        )
        commit()
    login(client, "colleague@labo-a.test")
    html = client.get(f"/quota/{cast.entity_a}").get_data(as_text=True)
    assert f"A-{archive_id:06d}" in html and f'href="/orders/{archive_id}"' not in html


def test_not_orderable_says_why(app, client, cast, archive_scenes):  # noqa: F811
    with app.app_context():
        make_collection(
            "neo-public", sensor_family="pleiades-neo", orderable=True, access="profiles"
        )
        make_collection("phr-members", sensor_family="pleiades", orderable=False)
        when = dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
        make_scene("NEO_ONLY_PUBLIC", box(2, 45, 2.2, 45.2), when, collection="neo-public")
        make_scene("PHR_NOT_SOLD", box(2, 45, 2.2, 45.2), when, collection="phr-members")
        commit()
    login(client, cast.user_a)  # who reads French
    reasons = {
        "OPEN_1": "en données ouvertes : ses scènes se téléchargent",
        "NEO_ONLY_PUBLIC": "autres profils de membres que celui de votre structure",
        "PHR_NOT_SOLD": "pas vendues par commande d&#39;archive (règle de la collection)",
    }
    page = client.get("/orders/archive/new?scenes=ARC_1," + ",".join(reasons))
    page = page.get_data(as_text=True)
    for scene_id, words in reasons.items():
        row = re.search(rf'<tr data-scene="{scene_id}">.*?</tr>', page, re.S)
        assert row and "Non commandable" in row.group(0) and words in row.group(0), scene_id
        scene_page = client.get(f"/catalogue/scenes/{scene_id}").get_data(as_text=True)
        assert words in scene_page and "/orders/archive/new?scenes=" not in scene_page
    arc = re.search(r'<tr data-scene="ARC_1">.*?</tr>', page, re.S)
    assert arc and "commandable" not in arc.group(0)


def test_an_archive_order_page_shows_only_what_applies(
    app,
    client,
    cast,
    archive_scenes,  # noqa: F811
):
    archive_id = _archive_order(app, cast)
    tasking_id = _tasking_order(app, cast)
    login(client, cast.user_a)  # who reads French
    archive_page = client.get(f"/orders/{archive_id}").get_data(as_text=True)
    for tasking_only in ("Nuages / incidence", "20 %", "30°", "Fenêtre", "mono", "PMS"):
        assert tasking_only not in archive_page, tasking_only
    assert 'href="/catalogue/scenes/ARC_1"' in archive_page  # its scenes instead
    assert "Scènes commandées" in archive_page
    tasking_page = client.get(f"/orders/{tasking_id}").get_data(as_text=True)
    for field in ("Nuages / incidence", "20 % · 30°", "Fenêtre", "PMS"):
        assert field in tasking_page, field


def test_archive_refusal_names_the_reason(app, cast, archive_scenes):  # noqa: F811
    with app.app_context(), force_locale("en"):
        make_collection(
            "neo-public", sensor_family="pleiades-neo", orderable=True, access="profiles"
        )
        make_scene(
            "NEO_ONLY_PUBLIC",
            box(2, 45, 2.2, 45.2),
            dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
            collection="neo-public",
        )
        user = accounts.get_user_by_email(cast.user_a)
        request = archive.ArchiveRequest(
            items=[archive.ArchiveItem("NEO_ONLY_PUBLIC")],
            project_title="x",
            project_description="x",
            justification="x",
            theme="water",
        )
        with pytest.raises(ServiceError) as refused:
            archive.submit_archive(user, request)
        message = refused.value.fields["items.0"]
        assert "NEO_ONLY_PUBLIC cannot be ordered" in message
        assert "reserved to other member profiles" in message
