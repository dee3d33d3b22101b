"""The demo catalogue's stereo groups: real images with RPC models, in the store, as scenes
of one stereo group each, from which a member can ask for a surface model."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from dinamis.accounts import service as accounts
from dinamis.catalogue.ingest import Report, load
from dinamis.catalogue.models import Scene
from dinamis.catalogue.service import stereo_group
from dinamis.core import dates
from dinamis.core.geo import geodesic_km2
from dinamis.core.transaction import commit
from dinamis.dsm import service
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.quota import service as quota
from seed.catalogue import COLLECTIONS
from seed.stereo import stereo_items


def test_the_seed_writes_two_pairs_and_a_tri_stereo_group(app, cast):
    with app.app_context():
        items, said = stereo_items()
        assert "toulouse (2 views)" in said and "(3 views)" in said, said
        groups: dict[str, list[str]] = {}
        for item in items:
            groups.setdefault(item["properties"]["dinamis:stereo_group"], []).append(item["id"])
            path = service.local_path(item["assets"]["data"]["href"])
            assert path.is_file() and path.stat().st_size == item["assets"]["data"]["file:size"]
            import rasterio

            with rasterio.open(path) as image:
                assert image.rpcs is not None  # the camera model travels with the image
        assert sorted(len(v) for v in groups.values()) == [2, 2, 3]
        report = Report()
        load([("seed", c) for c in COLLECTIONS] + [("seed", i) for i in items], report)
        assert report.errors == []
        # a member asks for the whole overlap of the tri-stereo group
        (tri,) = [ids for ids in groups.values() if len(ids) == 3]
        scene = db.session.get_one(Scene, tri[0])
        group = stereo_group(scene)
        assert [s.id for s in group] == sorted(tri, key=lambda i: [x["id"] for x in items].index(i))
        overlap = service.overlap(group)
        assert 0 < geodesic_km2(overlap) < Decimal("1")  # small: a test's size
        entity = db.session.get_one(Entity, cast.entity_a)
        quota.grant(entity, "dsm", quota.period_for(dates.today()), Decimal("10"))
        app.config["DINAMIS_SETTINGS"].dsm.__dict__["min_km2"] = Decimal("0.01")
        try:
            request = service.submit(
                accounts.get_user_by_email(cast.user_a),
                service.DsmAsk(tri[1], None, None, "Demo", "The demo's tri-stereo group."),
            )
        finally:
            app.config["DINAMIS_SETTINGS"].dsm.__dict__["min_km2"] = Decimal("10")
        assert request.source_ids == [s.id for s in group] and request.resolution_m == Decimal("1")
        assert db.session.scalars(select(Scene).where(Scene.id.in_(tri))).all()
        commit()
