"""Ingest STAC Collections and Items: upsert by id, in batches, bad records reported.

Accepts a JSON Collection, Item or FeatureCollection, or newline-delimited
JSON (one object a line). Lines are read as a stream and written in batches,
so memory stays flat whatever the file size (NDJSON; a single JSON document is
read whole). A bad record is reported with its line (or feature) number and
the reason; the good ones are kept (the first MAX_ERRORS reasons are kept,
the others counted).

With `checkpoint` (the CLI's commit), an NDJSON file is committed every
`every` items together with its position (`IngestProgress`): a load killed
midway and run again resumes after the last checkpoint, and since items are
upserted by id nothing is duplicated or lost either way.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from shapely.geometry import MultiPolygon
from sqlalchemy import String, select
from sqlalchemy.dialects.postgresql import insert

from dinamis.catalogue.models import Access, Collection, IngestProgress, Scene, quicklook_key
from dinamis.catalogue.stac_extensions import stored as stored_extensions
from dinamis.core.columns import values_of
from dinamis.core.db import has_long_number
from dinamis.core.errors import ServiceError
from dinamis.core.geo import parse_footprint, parse_footprints
from dinamis.extensions import db

BATCH = 20_000
# With a checkpoint (the CLI), an NDJSON file is committed with its position this often.
EVERY = 100_000
MAX_ERRORS = 1_000  # reasons kept in a report; the others are only counted
# Items are checked this many at a time (their footprints as one array).
CHUNK = 1_000
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
MAX_EXTENSIONS = 50
NUMERIC = {"cloud_cover", "incidence_angle", "sun_elevation", "sun_azimuth", "gsd"}
LENGTHS: dict[str, int] = {
    column.name: column.type.length
    for column in Scene.__table__.columns
    if isinstance(column.type, String)
    and column.type.length is not None
    and column.name not in ("id", "collection_id")
}
# What the columns can hold (Numeric precision) and what makes sense.
BOUNDS = {
    "cloud_cover": (0, 100),
    "incidence_angle": (0, 90),
    "sun_elevation": (-90, 90),
    "sun_azimuth": (0, 360),
    "gsd": (0, 99999),
}


# orjson reads an integer beyond 64 bits as a float, the standard library exactly:
# a line with 19 digits in a row (core.db.has_long_number) is left to the latter.


class _Lenient(dict):  # type: ignore[type-arg]
    """A record only the standard library could parse (NaN, huge integers...)."""


@dataclass
class Report:
    collections: int = 0
    items: int = 0
    errors: list[str] = field(default_factory=list)  # the first MAX_ERRORS reasons
    refused: int = 0  # every refused record, counted
    notes: list[str] = field(default_factory=list)  # what was assumed (a default access rule)

    def refuse(self, reason: str) -> None:
        self.refused += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(reason)


@dataclass
class _Position:
    """How far an NDJSON file has been read: the byte after the last line given, its number."""

    offset: int = 0
    line: int = 0


def _records(
    path: Path, progress: Any = None, position: _Position | None = None
) -> Iterator[tuple[str, Any]]:
    """(where, object) for every record of a file, streamed line by line for NDJSON.

    `progress`, if given, is called with the number of bytes read so far. For
    NDJSON, `position` (if given) says where to start and is kept up to date:
    when a record is given, it points past that record's line.
    """
    if _is_ndjson(path):
        at = position or _Position()
        with path.open("rb") as handle:
            handle.seek(at.offset)
            if progress is not None and at.offset:
                progress(at.offset)
            for number, line in enumerate(handle, start=at.line + 1):
                at.offset += len(line)
                at.line = number
                if progress is not None:
                    progress(len(line))
                if not line.strip():
                    continue
                if not has_long_number(line):
                    try:
                        yield f"{path.name}:{number}", orjson.loads(line)
                        continue
                    except orjson.JSONDecodeError:
                        pass  # the standard library decides, and says why
                try:
                    yield f"{path.name}:{number}", _lenient(json.loads(line))
                except RecursionError:
                    yield f"{path.name}:{number}", ValueError("not JSON (nested too deeply)")
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    reason = getattr(exc, "msg", None) or "not UTF-8"
                    yield f"{path.name}:{number}", ValueError(f"not JSON ({reason})")
        return
    with path.open(encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            yield f"{path.name}:{exc.lineno}", ValueError(f"not JSON ({exc.msg})")
            return
        except UnicodeDecodeError:
            yield path.name, ValueError("not UTF-8 text")
            return
        except RecursionError:
            yield path.name, ValueError("not JSON (nested too deeply)")
            return
        finally:
            if progress is not None:
                progress(path.stat().st_size)
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        for number, feature in enumerate(data.get("features") or [], start=1):
            yield f"{path.name} feature {number}", _lenient(feature)
    else:
        yield path.name, _lenient(data)


def _lenient(data: Any) -> Any:
    return _Lenient(data) if type(data) is dict else data


def _is_ndjson(path: Path) -> bool:
    """One STAC object a line: the first non-empty line is a whole Item or Collection."""
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                try:
                    first = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                    return False
                return isinstance(first, dict) and first.get("type") in ("Feature", "Collection")
    return False


def _decimal(name: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not number.is_finite() or isinstance(value, bool):
        raise ValueError(f"{name} is not a number: {value!r}")
    return number


def _head(item: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """The checks of an Item that come before its footprint's, and the row they start."""
    if item.get("type") != "Feature":
        raise ValueError("not a STAC Item (type must be Feature)")
    scene_id = item.get("id")
    if not isinstance(scene_id, str) or not scene_id or len(scene_id) > 200:
        raise ValueError("missing or too long id")
    collection = item.get("collection")
    if collection not in known:
        raise ValueError(f"unknown collection {collection!r}")
    props = item.get("properties") or {}
    if not isinstance(props, dict):
        raise ValueError("properties must be an object")
    when = props.get("datetime")
    try:
        moment = dt.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"datetime is not ISO 8601: {when!r}") from None
    if moment.tzinfo is None:
        raise ValueError("datetime has no time zone")
    return {"id": scene_id, "collection_id": collection, "datetime": moment}


def _dumps(value: Any, lenient: bool) -> str:
    """JSON text for a JSONB column.

    orjson for what orjson parsed; the standard library for what only it could
    parse (huge integers...); NaN and Infinity, which the standard library reads
    but JSON does not have (orjson would quietly write them as null), refuse the
    record instead of aborting the COPY of its batch.
    """
    if not lenient:
        try:
            return orjson.dumps(value).decode()
        except TypeError:  # orjson.JSONEncodeError: a huge integer, a lone surrogate...
            pass
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:  # NaN or Infinity: not JSON, and PostgreSQL's JSONB refuses them
        raise ValueError(
            "NaN and Infinity are not JSON numbers: not allowed in properties or assets"
        ) from None


def _tail(item: dict[str, Any], row: dict[str, Any], footprint: MultiPolygon) -> dict[str, Any]:
    """The checks of an Item that come after its footprint's; the row completed."""
    props = item.get("properties") or {}
    assets = item.get("assets") or {}
    if not isinstance(assets, dict):
        raise ValueError("assets must be an object")
    lenient = type(item) is _Lenient
    extensions = item.get("stac_extensions") or []
    if (
        not isinstance(extensions, list)
        or len(extensions) > MAX_EXTENSIONS
        or not all(isinstance(e, str) and 0 < len(e) <= 300 for e in extensions)
    ):
        raise ValueError(f"stac_extensions must be a list of at most {MAX_EXTENSIONS} schema URLs")
    quicklook = quicklook_key(assets)
    row["footprint"] = footprint
    row["properties"] = _dumps(
        {k: v for k, v in props.items() if k not in COLUMNS and k != "datetime"}, lenient
    )
    row["assets"] = _dumps(assets, lenient)
    # What the API gives back of the list is kept, not the list itself (stac_extensions.py).
    row["stac_extensions"] = _dumps(stored_extensions(extensions), lenient)
    # The quicklook's key among the assets, not its href again (migration 0033).
    row["quicklook"] = quicklook
    for key, column in COLUMNS.items():
        value = props.get(key)
        if column in NUMERIC:
            row[column] = _decimal(key, value)
        elif value is not None and not isinstance(value, str):
            raise ValueError(f"{key} must be text: {value!r}")
        else:
            row[column] = value
    for column, length in LENGTHS.items():
        if row[column] is not None and len(row[column]) > length:
            raise ValueError(f"{column} longer than {length} characters")
    if "\\u0000" in row["properties"] or "\\u0000" in row["assets"]:
        raise ValueError("NUL characters are not allowed in properties or assets")
    for column, limit in BOUNDS.items():
        value = row[column]
        if value is not None and not limit[0] <= value <= limit[1]:
            raise ValueError(f"{column} out of {limit[0]}-{limit[1]}: {value}")
    return row


def _ewkb(footprints: list[MultiPolygon]) -> list[str]:
    """Hex EWKB (SRID 4326) of many footprints, the form COPY takes."""
    if not footprints:
        return []
    array = shapely.set_srid(np.array(footprints, dtype=object), 4326)
    return list(shapely.to_wkb(array, hex=True, include_srid=True))


def item_row(item: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """The scene row of a STAC Item, or ValueError saying what is wrong.

    The footprint comes back as hex EWKB and the JSON columns as text: the
    form COPY takes. `item_rows` does the same for many Items at once.
    """
    row = _head(item, known)
    try:
        footprint = parse_footprint(item.get("geometry") or {})
    except ServiceError as error:
        raise ValueError(f"geometry: {error.message}") from None
    row = _tail(item, row, footprint)
    row["footprint"] = _ewkb([footprint])[0]
    return row


def item_rows(
    records: list[tuple[str, Any]], known: set[str]
) -> list[tuple[str, dict[str, Any] | Exception]]:
    """`item_row` of many (where, record) at once, in order: the row or the error of each.

    The footprints are read together (`parse_footprints`), which is what makes a
    batch cheaper than one Item at a time; rows and errors are the same.
    """
    heads: list[dict[str, Any] | Exception] = []
    geometries: list[Any] = []
    for _where, record in records:
        if isinstance(record, Exception):
            heads.append(record)
            continue
        item = record if isinstance(record, dict) else {}
        try:
            heads.append(_head(item, known))
        except ValueError as error:
            heads.append(error)
            continue
        geometries.append(item.get("geometry") or {})
    footprints = iter(parse_footprints(geometries))
    done: list[tuple[str, dict[str, Any] | Exception]] = []
    kept: list[MultiPolygon] = []
    for (where, record), head in zip(records, heads, strict=True):
        if isinstance(head, Exception):
            done.append((where, head))
            continue
        footprint = next(footprints)
        if isinstance(footprint, ServiceError):
            done.append((where, ValueError(f"geometry: {footprint.message}")))
            continue
        try:
            done.append((where, _tail(record, head, footprint)))
        except ValueError as error:
            done.append((where, error))
            continue
        kept.append(footprint)
    encoded = iter(_ewkb(kept))
    for _where, row in done:
        if isinstance(row, dict):
            row["footprint"] = next(encoded)
    return done


DEFAULT_ACCESS = Access.MEMBERS


def _upsert_collection(data: dict[str, Any]) -> str | None:
    """Insert or update a Collection; a note when it states no access rule: a new one
    gets DEFAULT_ACCESS, an existing one keeps its own."""
    if not isinstance(data.get("id"), str):
        raise ValueError("collection without id")
    dinamis = data.get("dinamis") or {}
    if not isinstance(dinamis, dict):
        raise ValueError("dinamis must be an object")
    note = None
    access = dinamis.get("access")
    existing = db.session.get(Collection, data["id"]) if access is None else None
    if access is None and existing is not None:
        access = existing.access
        dinamis = {**dinamis, "profiles": dinamis.get("profiles", existing.profiles)}
        note = (
            f"collection {data['id']}: no access rule given (dinamis.access);"
            f" it keeps its own: {access}"
        )
    elif access is None:
        access = DEFAULT_ACCESS
        note = (
            f"collection {data['id']}: no access rule given (dinamis.access);"
            f" the default applies: {DEFAULT_ACCESS} (signed-in members of an active entity)"
        )
    if access not in values_of(Access):
        raise ValueError(f"unknown access rule {access!r}")
    values = {
        "id": data["id"],
        "title": data.get("title") or data["id"],
        "title_fr": dinamis.get("title_fr"),
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
    return note


STAGING = (
    "seq",
    "id",
    "collection_id",
    "datetime",
    "footprint",
    "properties",
    "assets",
    "quicklook",
    "stac_extensions",
    *COLUMNS.values(),
)

_COLUMNS = ", ".join(c for c in STAGING if c != "seq")
# Built from the constant column names above, never from input.
UPSERT = (
    f"INSERT INTO scenes ({_COLUMNS}, updated_at) "  # noqa: S608
    f"SELECT DISTINCT ON (id) {_COLUMNS}, now() FROM scene_staging ORDER BY id, seq DESC "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in STAGING if c not in ("seq", "id"))
    + ", updated_at = now()"
)

COPY = f"COPY scene_staging ({', '.join(STAGING)}) FROM STDIN"
_STAGING_VALUES = operator.itemgetter(*STAGING)  # a row's values in COPY's order


class _Loader:
    """Rows go through COPY into a temporary table, then one upsert per batch.

    Within a batch the last version of an id wins (DISTINCT ON ... seq DESC),
    so a file that lists an item twice does not trip ON CONFLICT.

    A batch is written (COPY, upsert) by a thread while the caller reads the
    next one: PostgreSQL works on one core while Python reads on the other. The
    thread mostly waits on the connection (releasing the GIL), and the connection
    is used by one thread at a time: a batch is sent only once the previous one
    is done, and `flush` waits for it.

    The rows are formatted by psycopg's `copy.write_row` (text format), in the
    writer thread. The COPY text formatted by hand in the reading thread (the
    `_copy_text` of before, one line a row) was measured against it at
    1,000,000 generated items, one load each, same stored rows (checksum),
    machine at load average 21-30 (bench/catalogue/ingest_copy.py, variant
    `handtext`; bench/README.md): write_row 571 s wall, 92.0 s of Python CPU,
    53.4 s of PostgreSQL CPU, 267 MiB peak RSS; by hand 658 s, 89.3 s, 57.0 s,
    299 MiB. By hand saved 3 % of Python CPU (within this machine's noise) and
    was not faster end to end (15 % slower here, at a higher load), so it is
    gone: psycopg's own formatting is the one path.
    """

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.seq = 0
        self.task: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.stack = ExitStack()
        self.stack.callback(self._join)  # on an error, the connection is left idle
        self.open()

    def open(self) -> None:
        """Take the session's connection and make the staging table (again after a commit,
        which drops it and may return the connection to the pool)."""
        self.connection = db.session.connection()
        raw = self.connection.connection.driver_connection
        assert raw is not None  # a checked-out connection has its psycopg connection
        self.raw = raw
        self.connection.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS scene_staging"
            " (seq bigint, LIKE scenes INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        self.connection.exec_driver_sql("TRUNCATE scene_staging")

    def add(self, row: dict[str, Any]) -> None:
        self.seq += 1
        row["seq"] = self.seq
        self.rows.append(_STAGING_VALUES(row))
        if len(self.rows) >= BATCH:
            self._send()

    def _send(self) -> None:
        self._wait()
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        self.task = threading.Thread(target=self._write, args=(rows,), name="ingest-copy")
        self.task.start()

    def _copy(self, rows: list[Any]) -> None:
        with self.raw.cursor() as cursor, cursor.copy(COPY) as copy:
            for row in rows:
                copy.write_row(row)

    def _write(self, rows: list[Any]) -> None:
        try:
            self._copy(rows)
            self.connection.exec_driver_sql(UPSERT)
            self.connection.exec_driver_sql("TRUNCATE scene_staging")
        except BaseException as error:  # raised again by the caller's thread
            self.failure = error

    def _join(self) -> None:
        if self.task is not None:
            self.task.join()
            self.task = None

    def _wait(self) -> None:
        self._join()
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure

    def flush(self) -> None:
        """Write every row given so far, and wait until they are in `scenes`."""
        self._send()
        self._wait()


def vacuum() -> None:
    """VACUUM (ANALYZE) the scenes, outside any transaction (VACUUM cannot run in one).

    After a large ingest: fresh statistics for the planner, and the visibility
    map that lets the search's walks read only their index (migration 0016)
    instead of waiting for autovacuum; about a second per million scenes.
    """
    engine = db.engine
    assert engine is not None  # within the app
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE) scenes")


def ingest(
    paths: Iterable[Path],
    progress: Any = None,
    *,
    checkpoint: Callable[[], None] | None = None,
    every: int = EVERY,
    restart: bool = False,
) -> Report:
    """Upsert every Collection and Item of these files; report the bad records.

    `progress`, if given, is called with the number of bytes read as the files
    are streamed. Nothing is committed here: the caller owns the transaction.
    With `checkpoint` (which commits), an NDJSON file's position is written every
    `every` items and `checkpoint` called; a file left by an interrupted run
    resumes at its position, unless `restart`.
    """
    report = Report()
    for path in paths:
        if checkpoint is None or not _is_ndjson(path):
            load(_records(path, progress), report)
            continue
        saver = _Checkpoint(path, report, restart, checkpoint)
        load(_records(path, progress, saver.position), report, saver, every)
        db.session.delete(saver.saved)  # the file is done: committed with its last items
        db.session.flush()
    return report


class _Checkpoint:
    """An NDJSON file's position, written and committed (`commit`) with the items before it.

    Starts where an interrupted run of this very file (same path, size and
    modification time) committed its last checkpoint, unless `restart`.
    """

    def __init__(
        self, path: Path, report: Report, restart: bool, commit: Callable[[], None]
    ) -> None:
        self.report, self.commit = report, commit
        stat = path.stat()
        key = str(path.resolve())
        saved = db.session.get(IngestProgress, key)
        if (
            saved is not None
            and not restart
            and (saved.size, saved.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        ):
            report.notes.append(
                f"{path.name}: resumed after line {saved.line_number:,}, where an interrupted"
                f" run had committed {saved.items:,} item(s)"
            )
        else:
            if saved is None:
                saved = IngestProgress(path=key)
                db.session.add(saved)
            saved.size, saved.mtime_ns = stat.st_size, stat.st_mtime_ns
            saved.byte_offset = saved.line_number = saved.items = saved.refused = 0
        self.saved = saved
        self.position = _Position(saved.byte_offset, saved.line_number)
        # what earlier runs committed, less what this report holds already (earlier files)
        self.items, self.refused = saved.items - report.items, saved.refused - report.refused

    def __call__(self) -> None:
        saved, report = self.saved, self.report
        saved.byte_offset, saved.line_number = self.position.offset, self.position.line
        saved.items, saved.refused = self.items + report.items, self.refused + report.refused
        db.session.flush()
        self.commit()


def load(
    records: Iterable[tuple[str, Any]],
    report: Report,
    checkpoint: Callable[[], None] | None = None,
    every: int = EVERY,
) -> None:
    """Upsert (where, STAC object) records, Collections before the Items that use them.

    With `checkpoint`, every `every` items are written and `checkpoint` is called
    (it commits); the next records go into the next transaction.
    """
    known = set(db.session.scalars(select(Collection.id)))
    loader = _Loader()
    with loader.stack:  # on an error, the batch being written is waited for
        _read(records, known, loader, report, checkpoint, every)
        loader.flush()
    db.session.expire_all()


def _read(
    records: Iterable[tuple[str, Any]],
    known: set[str],
    loader: _Loader,
    report: Report,
    checkpoint: Callable[[], None] | None,
    every: int,
) -> None:
    items: list[tuple[str, Any]] = []
    since = 0  # records read since the last checkpoint

    def check_items() -> None:
        for where, row in item_rows(items, known):
            if isinstance(row, Exception):
                report.refuse(f"{where}: {row}")
            else:
                loader.add(row)
                report.items += 1
        items.clear()

    for where, record in records:
        since += 1
        if isinstance(record, dict) and record.get("type") == "Collection":
            check_items()  # the Items before it, in order
            loader.flush()  # the connection is busy while a batch is written
            try:
                note = _upsert_collection(record)
            except ValueError as error:
                report.refuse(f"{where}: {error}")
                continue
            known.add(record["id"])
            report.collections += 1
            if note:
                report.notes.append(f"{where}: {note}")
            continue
        items.append((where, record))
        if len(items) >= CHUNK or (checkpoint is not None and since >= every):
            check_items()
        if checkpoint is not None and since >= every:
            loader.flush()  # every record read so far is in `scenes`
            checkpoint()  # the position of the record just read, committed with them
            loader.open()
            since = 0
    check_items()
