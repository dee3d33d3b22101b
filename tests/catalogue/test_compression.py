"""Answers are compressed for clients that accept it: the STAC API, the JSON API and
the portal's pages; files (streamed, with Range) never are."""

from __future__ import annotations

import gzip
import json

import brotli
import pytest

from dinamis.catalogue.ingest import ingest
from dinamis.core.transaction import commit
from tests.catalogue.test_ingest import COLLECTION, item


@pytest.fixture
def scenes(app, tmp_path):
    lines = [json.dumps(COLLECTION)] + [json.dumps(item(n)) for n in range(1, 51)]
    path = tmp_path / "s.ndjson"
    path.write_text("\n".join(lines))
    with app.app_context():
        assert ingest([path]).errors == []
        commit()


def test_a_search_page_is_compressed_when_the_client_accepts_it(client, scenes):
    plain = client.get("/stac/search?limit=50")
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
    zipped = client.get("/stac/search?limit=50", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 5
    posted = client.post(
        "/stac/search", json={"limit": 50}, headers={"Accept-Encoding": "br, gzip"}
    )
    assert posted.headers["Content-Encoding"] == "br"
    assert json.loads(brotli.decompress(posted.data))["numberReturned"] == 50
    zstd = client.get("/stac/search?limit=50", headers={"Accept-Encoding": "zstd, br, gzip"})
    assert zstd.headers["Content-Encoding"] == "zstd"


def test_pages_and_the_json_api_are_compressed_too(client, scenes):
    page = client.get("/catalogue/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert b"</html>" in gzip.decompress(page.data)
    document = client.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert document.headers["Content-Encoding"] == "gzip"
    json.loads(gzip.decompress(document.data))


def test_small_answers_errors_and_files_are_not(client, scenes):
    small = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers  # under 1,000 bytes
    error = client.get("/stac/search?limit=0", headers={"Accept-Encoding": "gzip"})
    assert error.status_code == 400 and "Content-Encoding" not in error.headers
    from dinamis import COMPRESSED_TYPES

    assert "application/octet-stream" not in COMPRESSED_TYPES
    assert client.application.config["COMPRESS_STREAMS"] is False  # files, Range answers
