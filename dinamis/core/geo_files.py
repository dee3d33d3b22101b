"""Areas of interest from files: GeoJSON, KML (or KMZ) and zipped shapefiles.

Each reader turns the file into GeoJSON and hands it to `geo.parse_aoi`, the
one door every geometry goes through. The content decides the format, and a
file whose name claims another format is refused: a `.kml` that is a zip, a
`.zip` that is text. Shapefiles with a `.prj` in another CRS (Lambert-93...)
are reprojected to WGS84 longitude/latitude.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib
from typing import Any

import numpy as np
import shapefile  # pyshp
import shapely
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from flask_babel import gettext as _
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, mapping, shape

from dinamis.core.errors import BadRequest, ServiceError
from dinamis.core.geo import parse_aoi

MAX_UPLOAD = 5 * 1024 * 1024  # bytes of the file as sent
MAX_UNZIPPED = 50 * 1024 * 1024  # bytes once unzipped (zip bombs)
EXTENSIONS = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".kml": "kml",
    ".kmz": "kmz",
    ".zip": "shapefile",
}


def _sniff(data: bytes) -> str:
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return "geojson"
    if text.startswith(b"<"):
        return "kml"
    return "unknown"


def read_aoi_file(filename: str, data: bytes) -> MultiPolygon:
    """The area in an uploaded file, or BadRequest saying what is wrong with the file."""
    if not data:
        raise BadRequest(_("The file is empty."))
    if len(data) > MAX_UPLOAD:
        raise BadRequest(_("The file is larger than %(n)d MB.", n=MAX_UPLOAD // (1024 * 1024)))
    name = filename.lower().strip()
    claimed = next((kind for ext, kind in EXTENSIONS.items() if name.endswith(ext)), None)
    if claimed is None:
        raise BadRequest(
            _("Upload a GeoJSON (.geojson), KML (.kml, .kmz) or zipped shapefile (.zip) file.")
        )
    found = _sniff(data)
    expected = {"geojson": "geojson", "kml": "kml", "kmz": "zip", "shapefile": "zip"}[claimed]
    if found != expected:
        raise BadRequest(
            _(
                "%(name)s is not what its name says: its content is not %(kind)s.",
                name=filename[:100],
                kind={"geojson": "GeoJSON", "kml": "KML", "kmz": "KMZ", "shapefile": "a zip"}[
                    claimed
                ],
            )
        )
    try:
        if claimed == "geojson":
            return _one_door(_geojson(data))
        if claimed == "kml":
            return _one_door(_kml(data))
        with _open_zip(data) as archive:
            if claimed == "kmz":
                return _one_door(_kml(_member(archive, ".kml")))
            return _one_door(_shapefile(archive))
    except ServiceError as exc:
        if isinstance(exc, BadRequest):
            raise
        raise BadRequest(exc.message) from None


def _one_door(geojson: str | dict[str, Any]) -> MultiPolygon:
    return parse_aoi(geojson)


def _geojson(data: bytes) -> str:
    """The file's text, for `parse_aoi` to read as pasted GeoJSON is (same messages)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest(_("The file is not text in UTF-8: it is not GeoJSON.")) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _ring(element: Any) -> list[list[float]]:
    for node in element.iter():
        if _local(node.tag) == "coordinates":
            points = []
            for token in (node.text or "").split():
                parts = token.split(",")
                try:
                    points.append([float(parts[0]), float(parts[1])])
                except (ValueError, IndexError):
                    raise BadRequest(
                        _("A KML coordinate is not 'longitude,latitude': %(t)s.", t=token[:40])
                    ) from None
            return points
    return []


def _kml(data: bytes) -> dict[str, Any]:
    try:
        root = ElementTree.fromstring(data, forbid_dtd=True)
    except ElementTree.ParseError as exc:  # the parser's words are English: say where
        line, column = getattr(exc, "position", (0, 0))
        raise BadRequest(
            _("The file is not valid KML (line %(line)d, column %(col)d).", line=line, col=column)
        ) from None
    except (DefusedXmlException, ValueError):
        raise BadRequest(_("The file is not valid KML.")) from None
    if _local(root.tag) != "kml":
        raise BadRequest(_("The file is XML but not KML."))
    polygons = []
    for node in root.iter():
        if _local(node.tag) != "Polygon":
            continue
        outer, inner = [], []
        for child in node:
            if _local(child.tag) == "outerBoundaryIs":
                outer = _ring(child)
            elif _local(child.tag) == "innerBoundaryIs":
                inner.append(_ring(child))
        if outer:
            polygons.append([outer, *[r for r in inner if r]])
    if not polygons:
        raise BadRequest(_("The KML file holds no polygon."))
    return {"type": "MultiPolygon", "coordinates": polygons}


class _Zip:
    def __init__(self, data: bytes) -> None:
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            raise BadRequest(_("The zip file is damaged.")) from None
        infos = self.archive.infolist()
        if len(infos) > 100 or sum(i.file_size for i in infos) > MAX_UNZIPPED:
            raise BadRequest(_("The zip file is too large once unzipped."))

    def __enter__(self) -> zipfile.ZipFile:
        return self.archive

    def __exit__(self, *exc: object) -> None:
        self.archive.close()


def _open_zip(data: bytes) -> _Zip:
    return _Zip(data)


def _member(archive: zipfile.ZipFile, extension: str, required: bool = True) -> bytes:
    names = [n for n in archive.namelist() if n.lower().endswith(extension) and "__MACOSX" not in n]
    if not names:
        if required:
            raise BadRequest(_("The zip file has no %(ext)s file.", ext=extension))
        return b""
    if len(names) > 1 and extension == ".shp":
        raise BadRequest(_("The zip file holds several shapefiles; send one."))
    return _read(archive, archive.getinfo(names[0]))


_READABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, or BadRequest naming what is wrong with it in the archive."""
    name = info.filename[:100]
    if info.flag_bits & 0x1:
        raise BadRequest(
            _("%(name)s is encrypted in the zip file; send it without a password.", name=name)
        )
    if info.compress_type not in _READABLE:
        raise BadRequest(
            _(
                "%(name)s is compressed with a method this site cannot read (%(m)d); "
                "zip it again with the usual (Deflate) compression.",
                name=name,
                m=info.compress_type,
            )
        )
    try:
        data = archive.read(info)
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError, RuntimeError):
        raise BadRequest(_diagnose(archive, info)) from None
    if len(data) != info.file_size:  # zipfile stops short of a size announced too large
        raise BadRequest(_diagnose(archive, info))
    return data


def _diagnose(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """Why a member cannot be read: its size or its checksum lies, or it is damaged."""
    name = info.filename[:100]
    damaged = _("%(name)s is damaged in the zip file.", name=name)
    source = archive.fp
    if source is None:
        return damaged
    source.seek(info.header_offset)
    header = source.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        return damaged
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    source.seek(info.header_offset + 30 + name_length + extra_length)
    raw = source.read(min(info.compress_size, MAX_UPLOAD))
    try:
        if info.compress_type == zipfile.ZIP_DEFLATED:
            content = zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, MAX_UNZIPPED + 1)
        elif info.compress_type == zipfile.ZIP_STORED:
            content = raw
        else:
            return damaged
    except zlib.error:
        return damaged
    if len(content) != info.file_size:
        return _(
            "%(name)s holds %(n)d bytes, not the %(m)d its zip entry announces: "
            "the zip file is damaged or was tampered with.",
            name=name,
            n=len(content),
            m=info.file_size,
        )
    if zlib.crc32(content) != info.CRC:
        return _(
            "%(name)s is damaged in the zip file: its checksum (CRC) does not match its content.",
            name=name,
        )
    return damaged


def _check_length(data: bytes, extension: str) -> None:
    """A .shp or .shx is as long as its header says (a truncated one breaks the reader)."""
    if len(data) < 100 or data[:4] != b"\x00\x00\x27\x0a":
        raise BadRequest(_("The %(ext)s file is not a shapefile's.", ext=extension))
    (words,) = struct.unpack(">i", data[24:28])
    if len(data) < 2 * words:
        raise BadRequest(
            _(
                "The %(ext)s file is truncated: %(n)d bytes of the %(m)d its header announces.",
                ext=extension,
                n=len(data),
                m=2 * words,
            )
        )


def _shapefile(archive: zipfile.ZipFile) -> dict[str, Any]:
    shp, shx = _member(archive, ".shp"), _member(archive, ".shx")
    dbf, prj = _member(archive, ".dbf", required=False), _member(archive, ".prj", required=False)
    _check_length(shp, ".shp")
    _check_length(shx, ".shx")
    try:
        reader = shapefile.Reader(
            shp=io.BytesIO(shp), shx=io.BytesIO(shx), dbf=io.BytesIO(dbf) if dbf else None
        )
        shapes = reader.shapes()
    except (shapefile.ShapefileException, ValueError, OSError, IndexError, struct.error):
        # pyshp's reasons are English (or the system's language): not for the user.
        raise BadRequest(
            _("The shapefile cannot be read: its .shp or .shx file is damaged.")
        ) from None
    if reader.shapeType not in (shapefile.POLYGON, shapefile.POLYGONZ, shapefile.POLYGONM):
        raise BadRequest(
            _("The shapefile holds %(t)s, not polygons.", t=reader.shapeTypeName.lower())
        )
    if any(not math.isfinite(v) for s in shapes for point in s.points for v in point[:2]):
        raise BadRequest(_("The shapefile has vertices that are not numbers (NaN or infinite)."))
    geometries = [shape(s.__geo_interface__) for s in shapes if s.points]
    if not geometries:
        raise BadRequest(_("The shapefile holds no polygon."))
    if prj:
        geometries = _to_wgs84(geometries, prj)
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": mapping(g)} for g in geometries],
    }


def _to_wgs84(geometries: list[Any], prj: bytes) -> list[Any]:
    try:
        source = CRS.from_wkt(prj.decode("latin-1"))
    except CRSError:
        raise BadRequest(_("The shapefile's .prj does not describe a known projection.")) from None
    target = CRS.from_epsg(4326)
    if source.equals(target, ignore_axis_order=True):
        return geometries
    project = Transformer.from_crs(source, target, always_xy=True).transform

    def to_target(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack(project(xy[:, 0], xy[:, 1]))

    # Every geometry's coordinates in one call.
    return list(shapely.transform(geometries, to_target))
