"""Broken KMZ and zipped shapefiles are a 400 naming the problem, never a 500.

A bad CRC, a size that lies, the encrypted flag, an unknown compression
method, a truncated .shp or .shx and NaN vertices each raised out of zipfile
or pyshp (BadZipFile, RuntimeError, NotImplementedError, struct.error).
"""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from dinamis.core.errors import BadRequest
from dinamis.core.geo_files import read_aoi_file
from tests.core.test_geo_files import KML, RING, shapefile_zip, zipped
from tests.helpers import csrf_token

# (offset in the local header, offset in the central directory entry, format)
FIELDS = {
    "flags": (6, 8, "<H"),
    "method": (8, 10, "<H"),
    "crc": (14, 16, "<I"),
    "size": (22, 24, "<I"),
}


def tamper(data: bytes, suffix: str, **values: int) -> bytes:
    """The archive with these header fields of the member ending in `suffix` rewritten,
    in its local header and its central directory entry alike."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    info = next(i for i in archive.infolist() if i.filename.endswith(suffix))
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(info.filename)] != info.filename.encode():
        central = data.index(b"PK\x01\x02", central + 4)
    buffer = bytearray(data)
    for field, value in values.items():
        local_at, central_at, fmt = FIELDS[field]
        struct.pack_into(fmt, buffer, info.header_offset + local_at, value)
        struct.pack_into(fmt, buffer, central + central_at, value)
    return bytes(buffer)


def _info(data: bytes, suffix: str) -> zipfile.ZipInfo:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return next(i for i in archive.infolist() if i.filename.endswith(suffix))


def deflated(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name.replace("_", "."), data)
    return buffer.getvalue()


SHP = shapefile_zip([RING])
KMZ = zipped(doc_kml=KML.encode())
KMZ_DEFLATED = deflated(doc_kml=KML.encode())


def _cases():
    for label, archive, suffix, name in (
        ("kmz", KMZ, ".kml", "zone.kmz"),
        ("kmz-deflated", KMZ_DEFLATED, ".kml", "zone.kmz"),
        ("shp", SHP, ".shp", "zone.zip"),
    ):
        info = _info(archive, suffix)
        yield pytest.param(
            name, tamper(archive, suffix, crc=info.CRC ^ 0xFFFF), "checksum", id=f"{label}-crc"
        )
        yield pytest.param(
            name,
            tamper(archive, suffix, size=info.file_size - 7),
            "bytes, not the",
            id=f"{label}-size-smaller",
        )
        yield pytest.param(
            name,
            tamper(archive, suffix, size=info.file_size + 700),
            "bytes, not the",
            id=f"{label}-size-larger",
        )
        yield pytest.param(
            name,
            tamper(archive, suffix, flags=info.flag_bits | 0x1),
            "encrypted",
            id=f"{label}-encrypted",
        )
        yield pytest.param(
            name,
            tamper(archive, suffix, method=97),
            "compressed with a method",
            id=f"{label}-method",
        )


@pytest.mark.parametrize(("name", "data", "words"), list(_cases()))
def test_a_broken_archive_is_refused_naming_the_problem(app, name, data, words):
    with (
        app.test_request_context(headers={"Accept-Language": "en"}),
        pytest.raises(BadRequest) as refused,
    ):
        read_aoi_file(name, data)
    assert words in refused.value.message


def _members(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        return {n.replace(".", "_"): z.read(n) for n in z.namelist()}


@pytest.mark.parametrize("extension", ["shp", "shx"])
@pytest.mark.parametrize("keep", [0.5, 0.95, 50 / 236])
def test_a_truncated_shp_or_shx_is_refused_naming_it(app, extension, keep):
    members = _members(SHP)
    whole = members[f"zone_{extension}"]
    members[f"zone_{extension}"] = whole[: int(len(whole) * keep)]
    with (
        app.test_request_context(headers={"Accept-Language": "en"}),
        pytest.raises(BadRequest) as refused,
    ):
        read_aoi_file("zone.zip", zipped(**members))
    assert f".{extension}" in refused.value.message


def test_nan_vertices_are_refused(app):
    nan = float("nan")
    archive = shapefile_zip([[[2, 45], [2.2, 45], [nan, 45.2], [2, 45.2], [2, 45]]])
    with (
        app.test_request_context(headers={"Accept-Language": "en"}),
        pytest.raises(BadRequest) as refused,
    ):
        read_aoi_file("zone.zip", archive)
    assert "NaN" in refused.value.message


def test_the_upload_endpoint_answers_400_with_the_reason(client):
    info = _info(SHP, ".shp")
    broken = tamper(SHP, ".shp", crc=info.CRC ^ 1)
    token = csrf_token(client, "/support/new")
    response = client.post(
        "/catalogue/aoi",
        data={"file": (io.BytesIO(broken), "zone.zip")},
        headers={"X-CSRFToken": token, "Accept": "application/json", "Accept-Language": "en"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "checksum" in response.get_json()["error"]["message"]


def test_a_sound_archive_still_reads(app):
    assert read_aoi_file("zone.zip", SHP).bounds == pytest.approx((2, 45, 2.2, 45.2))
    assert read_aoi_file("zone.kmz", KMZ_DEFLATED).equals(read_aoi_file("zone.kmz", KMZ))


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_nan_vertices_in_a_kmz_are_refused(app, value):
    kml = KML.replace("2.2,45.2,0", f"{value},45.2,0").encode()
    with (
        app.test_request_context(headers={"Accept-Language": "en"}),
        pytest.raises(BadRequest) as refused,
    ):
        read_aoi_file("zone.kmz", deflated(doc_kml=kml))
    assert "finite" in refused.value.message
