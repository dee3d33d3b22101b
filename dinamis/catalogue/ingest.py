"""Ingest STAC Collections and Items: upsert by id, in batches, bad records reported.

Accepts a JSON Collection, Item or FeatureCollection, or newline-delimited
JSON (one object a line). Lines are read as a stream and written in batches,
so memory stays flat whatever the file size. A bad record is reported with
its line (or feature) number and the reason; the good ones are kept.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from dinamis.catalogue.models import Access, Collection, Scene
from dinamis.core.errors import ServiceError
from dinamis.core.geo import parse_footprint
from dinamis.extensions import db

BATCH = 1000
COLUMNS = {
    "platform": "platform",
    "constellation": "constellation",
    "eo:cloud_cover": "cloud_cover",
    "view:incidence_angle": "incidence_angle",
    "view:sun_elevation": "sun_elevation",
    "view:sun_azimuth": "sun_azimuth",
    "gsd": "gsd",
    "processing:level": "processing_level",
    "dinamis:spectral_mode": "spectral_mode",
    "dinamis:stereo_group": "stereo_group",
}
NUMERIC = {"cloud_cover", "incidence_angle", "sun_elevation", "sun_azimuth", "gsd"}


@dataclass
class Report:
    collections: int = 0
    items: int = 0
    errors: list[str] = field(default_factory=list)


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, object) for every record of a file, streamed line by line for NDJSON."""
    if _is_ndjson(path):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield f"{path.name}:{number}", json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"{path.name}:{number}", ValueError(f"not JSON ({exc.msg})")
        return
    with path.open(encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            yield f"{path.name}:{exc.lineno}", ValueError(f"not JSON ({exc.msg})")
            return
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        for number, feature in enumerate(data.get("features") or [], start=1):
            yield f"{path.name} feature {number}", feature
    else:
        yield path.name, data


def _is_ndjson(path: Path) -> bool:
    """One STAC object a line: the first non-empty line is a whole Item or Collection."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(first, dict) and first.get("type") in ("Feature", "Collection")
    return False


def _decimal(name: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {value!r}") from None


def item_row(item: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """The scene row of a STAC Item, or ValueError saying what is wrong."""
    if item.get("type") != "Feature":
        raise ValueError("not a STAC Item (type must be Feature)")
    scene_id = item.get("id")
    if not isinstance(scene_id, str) or not scene_id or len(scene_id) > 200:
        raise ValueError("missing or too long id")
    collection = item.get("collection")
    if collection not in known:
        raise ValueError(f"unknown collection {collection!r}")
    props = item.get("properties") or {}
    when = props.get("datetime")
    try:
        moment = dt.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"datetime is not ISO 8601: {when!r}") from None
    if moment.tzinfo is None:
        raise ValueError("datetime has no time zone")
    try:
        footprint = parse_footprint(item.get("geometry") or {})
    except ServiceError as error:
        raise ValueError(f"geometry: {error.message}") from None
    row: dict[str, Any] = {
        "id": scene_id,
        "collection_id": collection,
        "datetime": moment,
        "footprint": from_shape(footprint, srid=4326),
        "properties": {k: v for k, v in props.items() if k not in COLUMNS and k != "datetime"},
        "assets": item.get("assets") or {},
        "quicklook": ((item.get("assets") or {}).get("thumbnail") or {}).get("href"),
    }
    for key, column in COLUMNS.items():
        value = props.get(key)
        row[column] = _decimal(key, value) if column in NUMERIC else value
    cloud = row["cloud_cover"]
    if cloud is not None and not 0 <= cloud <= 100:
        raise ValueError(f"eo:cloud_cover out of 0-100: {cloud}")
    return row


def _upsert_collection(data: dict[str, Any]) -> None:
    if not isinstance(data.get("id"), str):
        raise ValueError("collection without id")
    dinamis = data.get("dinamis") or {}
    access = dinamis.get("access", Access.MEMBERS)
    if access not in Access.ALL:
        raise ValueError(f"unknown access rule {access!r}")
    values = {
        "id": data["id"],
        "title": data.get("title") or data["id"],
        "description": data.get("description") or "",
        "sensor_family": dinamis.get("sensor_family", "other"),
        "licence_code": data.get("license") or "proprietary",
        "licence_version": str(dinamis.get("licence_version", "1")),
        "licence_url": next(
            (link.get("href") for link in data.get("links") or [] if link.get("rel") == "license"),
            None,
        ),
        "access": access,
        "profiles": dinamis.get("profiles") or [],
        "orderable": bool(dinamis.get("orderable", False)),
        "extra": {k: data[k] for k in ("extent", "keywords", "providers") if k in data},
    }
    statement = insert(Collection).values(**values)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["id"], set_={k: statement.excluded[k] for k in values if k != "id"}
        )
    )


def _flush_items(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    statement = insert(Scene).values(rows)
    columns = [k for k in rows[0] if k != "id"]
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["id"], set_={k: statement.excluded[k] for k in columns}
        )
    )
    rows.clear()


def ingest(paths: Iterable[Path], progress: Any = None) -> Report:
    """Upsert every Collection and Item of these files; report the bad records."""
    report = Report()
    known = set(db.session.scalars(select(Collection.id)))
    batch: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in paths:
        for where, record in _records(path):
            if progress is not None:
                progress(1)
            if isinstance(record, Exception):
                report.errors.append(f"{where}: {record}")
                continue
            try:
                if isinstance(record, dict) and record.get("type") == "Collection":
                    _flush_items(batch)
                    _upsert_collection(record)
                    known.add(record["id"])
                    report.collections += 1
                    continue
                row = item_row(record if isinstance(record, dict) else {}, known)
            except ValueError as error:
                report.errors.append(f"{where}: {error}")
                continue
            if row["id"] in seen:  # the last version of an item in one run wins
                _flush_items(batch)
            seen.add(row["id"])
            batch.append(row)
            report.items += 1
            if len(batch) >= BATCH:
                _flush_items(batch)
    _flush_items(batch)
    db.session.flush()
    return report
