"""Migration 0040: a surface model's steps carry when their requester was told (`told_at`).

A scratch database at 0039 gets a request and its steps written as the application
wrote them then (told in the transaction that took them), goes up to 0040 and down
again: the old steps come up told at their own time, a new step is untold and
found by the partial index's condition, and going down drops the mark.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from geoalchemy2.shape import from_shape

from dinamis.core.transaction import commit
from dinamis.dsm.models import DsmRequest, DsmStatus
from dinamis.extensions import db
from tests.conftest import database_at
from tests.dsm.helpers import OVERLAP, aoi, make_world
from tests.factories import make_entity, make_user
from tests.helpers import check_steps_told_migration

BEFORE, AFTER = "0039_order_events_told", "0040_dsm_events_told"


@pytest.fixture
def scratch(app):
    with database_at(app, "dsm_told", BEFORE) as scratch:
        yield scratch


def test_old_steps_come_up_told_at_their_time_and_new_ones_untold(app, scratch):
    with app.app_context():
        entity = make_entity("Lab M")
        user = make_user("user@lab-m.test", entity=entity)
        world = make_world([entity.id])
        request = DsmRequest(
            status=DsmStatus.RUNNING,
            entity_id=entity.id,
            requester_id=user.id,
            scene_id=world.pair[0],
            stereo_group="PAIR_G",
            source_ids=world.pair,
            aoi=from_shape(aoi(*OVERLAP.bounds), srid=4326),
            aoi_km2=Decimal("210.00"),
            charged_km2=Decimal("210.00"),
            family="dsm",
            period="2027",
            resolution_m=Decimal("1"),
            project_title="Old request",
            project_description="Written before 0040.",
            theme="coast",
            attempts=1,
            progress=0,
        )
        db.session.add(request)
        db.session.flush()
        request_id = request.id
        commit()
    check_steps_told_migration(
        scratch,
        BEFORE,
        AFTER,
        table="dsm_events",
        parent=("request_id", request_id),
        steps=[
            (None, "queued", "2027-03-01 10:00+00"),
            ("queued", "running", "2027-03-01 10:01+00"),
        ],
        later=("running", "delivered"),
    )
