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
        assert "2.5, 45.5" in report.errors[1]  # where the bow tie crosses itself
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


def test_values_the_columns_cannot_hold_are_refused_with_their_line(app, tmp_path):
    nan = item(1)
    nan["properties"]["view:incidence_angle"] = "NaN"
    long_platform = item(2, properties={**item(2)["properties"], "platform": "x" * 51})
    steep = item(3)
    steep["properties"]["view:incidence_angle"] = 120
    nul = item(4)
    nul["properties"]["note"] = "a\u0000b"
    good = item(5)
    lines = [COLLECTION, nan, long_platform, steep, nul, good]
    path = tmp_path / "d.ndjson"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with app.app_context():
        report = ingest([path])
        assert report.items == 1
        assert [e.split(":")[1].split(" ")[0] for e in report.errors] == ["2", "3", "4", "5"]
        assert "not a number" in report.errors[0]
        assert "longer than 50" in report.errors[1]
        assert "out of 0-90" in report.errors[2]
        assert db.session.get(Scene, "PHR_0005") is not None


def test_duplicates_in_one_batch_keep_the_last_and_collections_can_follow_items(app, tmp_path):
    later = {**COLLECTION, "id": "later", "title": "Later"}
    first, second = item(1), item(1)
    second["properties"]["eo:cloud_cover"] = 77
    lines = [COLLECTION, first, second, later, item(2, collection="later")]
    path = tmp_path / "e.ndjson"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    read: list[int] = []
    with app.app_context():
        report = ingest([path], progress=read.append)
        assert report.errors == [] and report.items == 3
        assert db.session.get(Scene, "PHR_0001").cloud_cover == 77
        assert db.session.get(Scene, "PHR_0002").collection_id == "later"
    assert sum(read) == path.stat().st_size


def test_cli_reports_counts_and_refusals(app, tmp_path):
    from sqlalchemy import text

    vacuums = text("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'scenes'")
    with app.app_context():
        before = db.session.scalar(vacuums)
    path = tmp_path / "f.ndjson"
    path.write_text(json.dumps(COLLECTION) + "\n" + json.dumps(item(1)) + "\n{oops\n")
    result = app.test_cli_runner().invoke(args=["catalogue", "ingest", str(path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        db.session.execute(text("SELECT pg_stat_clear_snapshot()"))  # stats are per transaction
        assert db.session.scalar(vacuums) == before + 1  # then VACUUM (ANALYZE) scenes
    assert "1 collection(s), 1 item(s) ingested, 1 refused" in result.output
    assert "f.ndjson:3" in result.output


def _square(x: float, y: float, size: float = 0.2) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


# Footprints the batch reads itself and footprints it hands to parse_footprint:
# both must come out as parse_footprint says, geometry for geometry, error for error.
FOOTPRINTS = [
    {"type": "Polygon", "coordinates": [_square(2, 45)]},
    {"type": "Polygon", "coordinates": [[[2, 45], [3, 45], [3, 46], [2, 46], [2, 45]]]},  # ints
    {
        "type": "Polygon",
        "coordinates": [_square(2, 45, 1), _square(2.2, 45.2, 0.1)],  # with a hole
    },
    {"type": "MultiPolygon", "coordinates": [[_square(2, 45)], [_square(5, 45)]]},
    {"type": "MultiPolygon", "coordinates": [[_square(179.8, -17)], [_square(-180, -17)]]},
    {  # crosses the antimeridian: split
        "type": "Polygon",
        "coordinates": [[[179.5, -17], [-179.5, -17], [-179.5, -16], [179.5, -16], [179.5, -17]]],
    },
    {  # a bow tie: refused
        "type": "Polygon",
        "coordinates": [[[2, 45], [3, 46], [3, 45], [2, 46], [2, 45]]],
    },
    {  # a repeated spike: repaired by parse_aoi or refused, as it says
        "type": "Polygon",
        "coordinates": [[[2, 45], [3, 45], [3, 46], [3, 47], [3, 46], [2, 46], [2, 45]]],
    },
    {"type": "Polygon", "coordinates": [[[2, 45], [3, 45], [3, 46], [2, 46]]]},  # not closed
    {"type": "Polygon", "coordinates": [_square(181, 45)]},  # out of range
    {"type": "Polygon", "coordinates": [[[2, 45, 1], [3, 45, 1], [3, 46, 1], [2, 45, 1]]]},
    {"type": "Polygon", "coordinates": [[[2, 45], [3, 45], [2, 45], [3, 45], [2, 45]]]},  # flat
    {"type": "Polygon", "coordinates": [[[True, 45], [3, 45], [3, 46], [True, 45]]]},
    {"type": "Polygon", "coordinates": [[["2", 45], [3, 45], [3, 46], ["2", 45]]]},
    {"type": "Polygon", "coordinates": []},
    {"type": "MultiPolygon", "coordinates": [[]]},
    {"type": "Point", "coordinates": [2, 45]},
    {},
    {"type": "Polygon", "coordinates": [[[float("nan"), 45], [3, 45], [3, 46], [2, 45]]]},
    {"type": "Polygon", "coordinates": [[[float("inf"), 45], [3, 45], [3, 46], [2, 45]]]},
    {"type": "Polygon", "coordinates": [[[10**400, 45], [3, 45], [3, 46], [10**400, 45]]]},
    {"type": "MultiPolygon", "coordinates": [[[[2, 45], [3, -(10**30)], [3, 46], [2, 45]]]]},
    {
        "type": "Polygon",
        "coordinates": [
            [[2 + i * 1e-5, 45] for i in range(10_001)] + [[2.1, 45.5], [2, 45]]
        ],  # too many vertices
    },
]


def _outcome(function, *args):
    import shapely

    from dinamis.core.errors import ServiceError

    try:
        result = function(*args)
    except ServiceError as error:
        return ("error", error.message)
    if isinstance(result, ServiceError):
        return ("error", result.message)
    return ("ok", shapely.to_wkb(result, hex=True))


def test_footprints_read_as_a_batch_are_those_read_one_by_one(app):
    from dinamis.core.geo import parse_footprint, parse_footprints

    with app.test_request_context():
        batch = parse_footprints(FOOTPRINTS)
        alone = [_outcome(parse_footprint, raw) for raw in FOOTPRINTS]
        assert [_outcome(lambda r: r, found) for found in batch] == alone
        assert [kind for kind, _what in alone].count("ok") >= 6
        assert [kind for kind, _what in alone].count("error") >= 6


def test_items_checked_as_a_batch_are_those_checked_one_by_one(app):
    from dinamis.catalogue.ingest import _Lenient, item_row, item_rows

    items: list = [item(n, geometry=geometry) for n, geometry in enumerate(FOOTPRINTS)]
    items.append(item(90, type="Collection"))
    items.append(item(91, collection="nope"))
    items.append(item(92, assets=[1]))
    odd = item(93)
    odd["properties"]["huge"] = 10**30  # beyond orjson's integers
    items.append(odd)
    lenient = _Lenient(item(94))
    lenient["properties"]["eo:cloud_cover"] = float("nan")
    items.append(lenient)
    items.append("not an object")
    items.append(ValueError("not JSON (bad)"))
    with app.test_request_context():
        known = {"pleiades-archive"}
        expected = []
        for record in items:
            if isinstance(record, Exception):
                expected.append(str(record))
                continue
            try:
                expected.append(item_row(record if isinstance(record, dict) else {}, known))
            except ValueError as error:
                expected.append(str(error))
        found = item_rows([(str(n), record) for n, record in enumerate(items)], known)
        assert [w for w, _row in found] == [str(n) for n in range(len(items))]
        assert [r if isinstance(r, dict) else str(r) for _w, r in found] == expected
        assert json.loads(found[len(FOOTPRINTS) + 3][1]["properties"])["huge"] == 10**30


def test_ndjson_lines_orjson_refuses_are_read_as_before(app, tmp_path):
    nan = json.dumps(item(1)).replace('"eo:cloud_cover": 12.5', '"eo:cloud_cover": NaN')
    exact = 123456789012345678901234567
    huge = json.dumps(item(2)).replace('"custom:thing": "kept"', f'"custom:thing": {exact}')
    steep = json.dumps(item(3)).replace(
        '"view:incidence_angle": 14.2', f'"view:incidence_angle": {exact}'
    )
    path = tmp_path / "g.ndjson"
    lines = [json.dumps(COLLECTION), nan, huge, steep, json.dumps(item(4))]
    path.write_text("\n".join(lines) + "\n")
    with app.app_context():
        report = ingest([path])
        assert report.items == 2
        assert report.errors == [
            "g.ndjson:2: eo:cloud_cover is not a number: nan",
            f"g.ndjson:4: incidence_angle out of 0-90: {exact}",
        ]
        assert db.session.get(Scene, "PHR_0002").properties["custom:thing"] == exact
        assert db.session.get(Scene, "PHR_0004") is not None


def test_nan_infinity_and_huge_coordinates_refuse_their_record_only(app, tmp_path):
    infinite = json.dumps(item(1)).replace('"custom:thing": "kept"', '"custom:thing": Infinity')
    in_assets = json.dumps(item(2)).replace('"href":', '"size": -Infinity, "href":', 1)
    huge = json.dumps(item(3, geometry={"type": "Polygon", "coordinates": [[[0, 0]]]})).replace(
        "[[[0, 0]]]", f"[[[{10**400}, 45], [3, 45], [3, 46], [{10**400}, 45]]]"
    )
    unbounded = json.dumps(item(4, geometry={"type": "Polygon", "coordinates": [[[0, 0]]]}))
    unbounded = unbounded.replace("[[[0, 0]]]", "[[[1e400, 45], [3, 45], [3, 46], [1e400, 45]]]")
    path = tmp_path / "i.ndjson"
    lines = [json.dumps(COLLECTION), infinite, in_assets, huge, unbounded, json.dumps(item(5))]
    path.write_text("\n".join(lines) + "\n")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        report = ingest([path])
        assert report.items == 1
        assert report.errors == [
            "i.ndjson:2: NaN and Infinity are not JSON numbers: "
            "not allowed in properties or assets",
            "i.ndjson:3: NaN and Infinity are not JSON numbers: "
            "not allowed in properties or assets",
            "i.ndjson:4: geometry: Coordinates must be longitude (-180 to 180) then "
            "latitude (-90 to 90), in degrees.",
            "i.ndjson:5: geometry: Coordinates must be finite numbers (not NaN or Infinity).",
        ]
        assert db.session.get(Scene, "PHR_0005") is not None
        assert db.session.get(Scene, "PHR_0001") is None


def test_text_copy_keeps_awkward_strings_and_many_batches(app, tmp_path, monkeypatch):
    from dinamis.catalogue import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "BATCH", 3)  # several batches, the thread at work
    awkward = 'tab\there, back\\slash, new\nline, cr\r, quote", é, \\N, \\t'
    odd = item(1, id="PHR_\\N\t1")
    odd["properties"].update(
        {"platform": "p\\1", "note": awkward, "nested": {"k\\": [awkward, 1.5]}}
    )
    odd["assets"]["thumbnail"]["title"] = awkward
    lines = [COLLECTION, odd] + [item(n) for n in range(2, 12)]
    path = tmp_path / "h.ndjson"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with app.app_context():
        report = ingest([path])
        assert report.errors == [] and report.items == 11
        scene = db.session.get(Scene, "PHR_\\N\t1")
        assert scene.platform == "p\\1"
        assert scene.properties == {
            "custom:thing": "kept",
            "note": awkward,
            "nested": {"k\\": [awkward, 1.5]},
        }
        assert scene.assets["thumbnail"]["title"] == awkward
        assert float(scene.cloud_cover) == 12.5 and scene.datetime.day == 2
        assert len(db.session.scalars(select(Scene)).all()) == 11
