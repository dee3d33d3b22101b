"""Ingesting STAC Collections and Items."""

from __future__ import annotations

import json

from geoalchemy2.shape import to_shape
from sqlalchemy import select

from dinamis.catalogue.ingest import ingest
from dinamis.catalogue.models import Collection, Scene
from dinamis.extensions import db

COLLECTION = {
    "type": "Collection",
    "id": "pleiades-archive",
    "title": "Pléiades archive",
    "license": "proprietary",
    "description": "Pléiades 50 cm",
    "links": [{"rel": "license", "href": "https://example.test/licence"}],
    "dinamis": {"access": "profiles", "profiles": ["research-fr"], "sensor_family": "pleiades"},
}


def item(n: int, **changes):
    base = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": f"PHR_{n:04d}",
        "collection": "pleiades-archive",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[2, 45], [2.2, 45], [2.2, 45.2], [2, 45.2], [2, 45]]],
        },
        "properties": {
            "datetime": f"2024-05-{1 + n % 28:02d}T10:30:00Z",
            "platform": "pleiades-1a",
            "eo:cloud_cover": 12.5,
            "view:incidence_angle": 14.2,
            "gsd": 0.5,
            "processing:level": "ortho",
            "custom:thing": "kept",
        },
        "assets": {"thumbnail": {"href": "quicklooks/x.png"}},
    }
    base.update(changes)
    return base


def test_ndjson_with_bad_lines_keeps_the_good_ones(app, tmp_path):
    lines = [json.dumps(COLLECTION), json.dumps(item(1)), "{not json", json.dumps(item(2))]
    bow_tie = item(
        3,
        geometry={
            "type": "Polygon",
            "coordinates": [[[2, 45], [3, 46], [3, 45], [2, 46], [2, 45]]],
        },
    )
    lines += [json.dumps(bow_tie), json.dumps(item(4, collection="nope"))]
    bad_cloud = item(5)
    bad_cloud["properties"]["eo:cloud_cover"] = 140
    lines.append(json.dumps(bad_cloud))
    path = tmp_path / "items.ndjson"
    path.write_text("\n".join(lines) + "\n")
    with app.app_context():
        report = ingest([path])
        assert (report.collections, report.items) == (1, 2)
        assert [e.split(":")[1].split(" ")[0] for e in report.errors] == ["3", "5", "6", "7"]
        assert "Self-intersection" in report.errors[1]
        scene = db.session.get(Scene, "PHR_0001")
        assert scene.properties == {"custom:thing": "kept"}
        assert float(scene.cloud_cover) == 12.5
        assert db.session.get(Collection, "pleiades-archive").profiles == ["research-fr"]


def test_upsert_by_id_and_feature_collection(app, tmp_path):
    first = tmp_path / "a.json"
    first.write_text(json.dumps(COLLECTION))
    features = tmp_path / "b.json"
    updated = item(1)
    updated["properties"]["eo:cloud_cover"] = 3
    features.write_text(
        json.dumps({"type": "FeatureCollection", "features": [item(1), updated, item(2)]})
    )
    with app.app_context():
        report = ingest([first, features])
        assert report.errors == [] and report.items == 3
        assert db.session.scalar(select(Scene).where(Scene.id == "PHR_0001")).cloud_cover == 3
        assert len(db.session.scalars(select(Scene)).all()) == 2


def test_antimeridian_footprint_is_stored_split(app, tmp_path):
    crossing = item(
        9,
        geometry={
            "type": "Polygon",
            "coordinates": [
                [[179.5, -17], [-179.5, -17], [-179.5, -16], [179.5, -16], [179.5, -17]]
            ],
        },
    )
    path = tmp_path / "c.ndjson"
    path.write_text(json.dumps(COLLECTION) + "\n" + json.dumps(crossing) + "\n")
    with app.app_context():
        ingest([path])
        footprint = to_shape(db.session.get(Scene, "PHR_0009").footprint)
        assert len(footprint.geoms) == 2 and abs(footprint.area - 1) < 1e-9
