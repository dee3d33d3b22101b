"""STAC clients against a live server of the test app: the STAC API validator
(stac-api-validator) and pystac-client.

The server runs the test application in a thread, its requests inside the
test's rolled-back transaction (as the browser tests do); the STAC links are
built on its address. The validator fetches JSON schemas from the internet,
which fails offline: those failures are the only errors tolerated, read from
its output (it exits 0 even when it crashes, so the exit status says little).
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from pystac.stac_object import STACObjectType
from pystac.validation.stac_validator import JsonSchemaSTACValidator
from pystac.version import STACVersion
from pystac_client import Client
from werkzeug.serving import make_server

from dinamis.catalogue.ingest import ingest
from dinamis.core.transaction import commit
from tests.catalogue.test_ingest import COLLECTION, item

VALIDATOR = Path(sys.executable).with_name("stac-api-validator")
FRANCE = {
    "type": "Polygon",
    "coordinates": [[[-5, 42], [8, 42], [8, 51], [-5, 51], [-5, 42]]],
}
CLASSES = ("core", "collections", "features", "item-search", "filter")
# A schema the validator could not download: the one failure allowed.
DOWNLOAD = re.compile(
    r"HTTPSConnectionPool\(host=\\?'(?!127\.0\.0\.1|localhost)[^'\\]+\\?', port=443\)"
    r".*(Failed to resolve|NameResolutionError|Max retries exceeded|timed out)"
)


@pytest.fixture(scope="module")
def server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()


@pytest.fixture
def stac(app: Flask, server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The live STAC API's root, its links built on the server's address."""
    settings = app.config["DINAMIS_SETTINGS"]
    monkeypatch.setitem(
        app.config, "DINAMIS_SETTINGS", dataclasses.replace(settings, base_url=server)
    )
    return f"{server}/stac"


def _load(app: Flask, tmp_path: Path, count: int) -> None:
    """`count` scenes over the Massif central, and five in Brittany."""
    lines = [json.dumps(COLLECTION)]
    for n in range(1, count + 1):
        scene = item(n)
        scene["properties"]["eo:cloud_cover"] = n % 100
        lines.append(json.dumps(scene))
    for n in range(count + 1, count + 6):
        lines.append(
            json.dumps(
                item(
                    n,
                    geometry={
                        "type": "Polygon",
                        "coordinates": [[[-4, 48], [-3.8, 48], [-3.8, 48.2], [-4, 48.2], [-4, 48]]],
                    },
                )
            )
        )
    path = tmp_path / "scenes.ndjson"
    path.write_text("\n".join(lines))
    with app.app_context():
        assert ingest([path]).errors == []
        commit()


def _errors(output: str) -> list[str]:
    """The validator's errors, one string each (an error may span lines)."""
    assert "Failed." not in output, output[-3000:]
    found = re.search(r"^Errors:(.*)\Z", output, flags=re.MULTILINE | re.DOTALL)
    assert found, output[-3000:]
    if found.group(1).strip() == "none":
        return []
    return [e.strip() for e in ("\n" + found.group(1)).split("\n- ") if e.strip()]


def test_the_stac_api_validator_finds_no_error_but_schema_downloads(app, stac, tmp_path):
    _load(app, tmp_path, 30)
    command = [str(VALIDATOR), "--root-url", stac, "--collection", "pleiades-archive"]
    command += ["--geometry", json.dumps(FRANCE)]
    for name in CLASSES:
        command += ["--conformance", name]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603 (our own arguments)
    output = done.stdout + done.stderr
    for name in (
        "Core",
        "Collections",
        "Features",
        "Item Search",
        "Item Search - Filter Extension",
    ):
        assert f"Validating STAC API - {name} conformance class." in output, output[-3000:]
    unexpected = [e for e in _errors(output) if not DOWNLOAD.search(e)]
    assert unexpected == [], "\n".join(unexpected)


def test_pystac_client_searches_by_point_line_bbox_and_filter(app, stac, tmp_path):
    _load(app, tmp_path, 20)
    client = Client.open(stac)
    assert {c.id for c in client.get_collections()} == {"pleiades-archive"}
    for method in ("GET", "POST"):
        point = client.search(
            intersects={"type": "Point", "coordinates": [2.2, 45.1]},  # on the footprints' edge
            method=method,
            max_items=100,
        )
        assert len(list(point.items())) == 20
        line = client.search(
            intersects={"type": "LineString", "coordinates": [[-5, 48.1], [-3.9, 48.1]]},
            method=method,
        )
        assert {i.id for i in line.items()} == {f"PHR_{n:04d}" for n in range(21, 26)}
        box = client.search(bbox=[1.9, 44.9, 2.3, 45.3], method=method, limit=7)
        assert len(list(box.items())) == 20
        text = client.search(
            filter="eo:cloud_cover < 5 AND platform = 'pleiades-1a'",
            filter_lang="cql2-text",
            method=method,
        )
        assert {i.id for i in text.items()} == {f"PHR_{n:04d}" for n in range(1, 5)}
    as_json = client.search(
        filter={"op": "<", "args": [{"property": "eo:cloud_cover"}, 3]},
        filter_lang="cql2-json",
        method="POST",
    )
    assert sorted(i.id for i in as_json.items()) == ["PHR_0001", "PHR_0002"]
    found = next(iter(client.search(ids=["PHR_0003"]).items()))
    JsonSchemaSTACValidator().validate_core(
        found.to_dict(), STACObjectType.ITEM, STACVersion.DEFAULT_STAC_VERSION
    )  # the core schema, which pystac carries (the extensions' are on the internet)
    assert found.get_collection().id == "pleiades-archive"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_pystac_client_pages_to_the_end_of_250_items(app, stac, tmp_path, method):
    _load(app, tmp_path, 245)
    client = Client.open(stac)
    search = client.search(collections=["pleiades-archive"], limit=100, method=method)
    pages = [len(page["features"]) for page in search.pages_as_dicts()]
    assert pages == [100, 100, 50]
    ids = [i.id for i in search.items()]
    assert len(ids) == 250 and len(set(ids)) == 250
