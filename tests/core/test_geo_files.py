"""Areas of interest from uploaded files: GeoJSON, KML/KMZ, zipped shapefiles."""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal

import pytest
import shapefile
from pyproj import Transformer

from dinamis.core.errors import BadRequest
from dinamis.core.geo import geodesic_km2
from dinamis.core.geo_files import MAX_UPLOAD, read_aoi_file
from tests.helpers import csrf_token

RING = [[2, 45], [2.2, 45], [2.2, 45.2], [2, 45.2], [2, 45]]
KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>zone</name>
<Polygon><outerBoundaryIs><LinearRing><coordinates>
2,45,0 2.2,45,0 2.2,45.2,0 2,45.2,0 2,45,0
</coordinates></LinearRing></outerBoundaryIs>
<innerBoundaryIs><LinearRing><coordinates>2.05,45.05 2.1,45.05 2.1,45.1 2.05,45.05</coordinates>
</LinearRing></innerBoundaryIs></Polygon></Placemark></Document></kml>"""


def zipped(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name.replace("_", "."), data)
    return buffer.getvalue()


def shapefile_zip(rings, shape_type=shapefile.POLYGON, prj: str | None = None) -> bytes:
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    writer = shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shape_type)
    writer.field("name", "C")
    for ring in rings:
        if shape_type == shapefile.POINT:
            writer.point(*ring[0])
        else:
            writer.poly([ring])
        writer.record("x")
    writer.close()
    members = {"zone_shp": shp.getvalue(), "zone_shx": shx.getvalue(), "zone_dbf": dbf.getvalue()}
    if prj:
        members["zone_prj"] = prj.encode()
    return zipped(**members)


def test_geojson_file():
    area = read_aoi_file(
        "zone.geojson", json.dumps({"type": "Polygon", "coordinates": [RING]}).encode()
    )
    assert area.bounds == (2, 45, 2.2, 45.2)


def test_kml_with_a_hole_and_kmz():
    area = read_aoi_file("zone.kml", KML.encode())
    assert len(area.geoms[0].interiors) == 1
    assert read_aoi_file("zone.kmz", zipped(doc_kml=KML.encode())).equals(area)


def test_zipped_shapefile_in_wgs84():
    area = read_aoi_file("zone.zip", shapefile_zip([RING]))
    assert area.bounds == pytest.approx((2, 45, 2.2, 45.2))


def test_zipped_shapefile_in_lambert93_is_reprojected():
    from pyproj import CRS

    to_l93 = Transformer.from_crs(4326, 2154, always_xy=True).transform
    ring = [list(to_l93(x, y)) for x, y in RING]
    area = read_aoi_file(
        "zone.zip", shapefile_zip([ring], prj=CRS.from_epsg(2154).to_wkt("WKT1_ESRI"))
    )
    assert area.bounds == pytest.approx((2, 45, 2.2, 45.2), abs=1e-6)
    assert abs(geodesic_km2(area) - Decimal("349.6")) < 5  # 0.2° x 0.2° at 45°N


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("zone.kml", zipped(doc_kml=KML.encode()), "not what its name says"),
        ("zone.zip", b'{"type": "Polygon"}', "not what its name says"),
        ("zone.geojson", b"<kml/>", "not what its name says"),
        ("zone.exe", b"MZ", "GeoJSON"),
        ("zone.geojson", b"", "empty"),
        ("zone.geojson", b"{" + b" " * MAX_UPLOAD + b"}", "larger"),
        ("zone.geojson", b"{not json", "GeoJSON"),
        ("zone.kml", b"<html><body/></html>", "KML"),
        ("zone.kml", b"<kml><Document/></kml>", "no polygon"),
        ("zone.kml", b"<kml><coordinates>1,2", "KML"),
        (
            "zone.kml",
            b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaa">]><kml>&a;</kml>',
            "KML",
        ),
        (
            "zone.kml",
            KML.replace(
                "2,45,0 2.2,45,0 2.2,45.2,0 2,45.2,0", "2,45 2.2,45.2 2.2,45 2,45.2"
            ).encode(),
            "crosses itself",
        ),
        ("zone.zip", zipped(readme_txt=b"hello"), ".shp"),
        ("zone.zip", b"PK\x03\x04garbage", "damaged"),
        ("zone.zip", shapefile_zip([[[2, 45]]], shapefile.POINT), "not polygons"),
        ("zone.zip", shapefile_zip([[[200, 45], [201, 45], [201, 46], [200, 45]]]), "Coordinates"),
    ],
)
def test_bad_files_are_refused_with_a_reason(name, data, words):
    with pytest.raises(BadRequest) as refused:
        read_aoi_file(name, data)
    assert words in refused.value.message


def test_zip_bombs_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.shp", b"\0" * (60 * 1024 * 1024))
    with pytest.raises(BadRequest) as refused:
        read_aoi_file("zone.zip", buffer.getvalue())
    assert "too large" in refused.value.message


def test_upload_endpoint(client):
    token = csrf_token(client, "/support/new")
    headers = {"X-CSRFToken": token, "Accept": "application/json"}
    answer = client.post(
        "/catalogue/aoi",
        data={"file": (io.BytesIO(KML.encode()), "zone.kml")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["geometry"]["type"] == "MultiPolygon" and Decimal(body["area_km2"]) > 300
    refused = client.post(
        "/catalogue/aoi",
        data={"file": (io.BytesIO(b"PK\x03\x04x"), "zone.kml")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400 and "KML" in refused.get_json()["error"]["message"]
    missing = client.post("/catalogue/aoi", data={}, headers=headers)
    assert missing.status_code == 400
    no_csrf = client.post(
        "/catalogue/aoi",
        data={"file": (io.BytesIO(KML.encode()), "zone.kml")},
        content_type="multipart/form-data",
    )
    assert no_csrf.status_code == 400
