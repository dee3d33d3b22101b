"""The API and its OpenAPI document cannot drift: both come from one declaration per operation.

- the document is a valid OpenAPI 3.1 document, its `servers` from DINAMIS_BASE_URL;
- bodies are strictly typed: booleans, NaN, Infinity, 1e999, ids beyond PostgreSQL's
  integer, over-long strings, NUL characters, unknown values and unknown fields are a
  422 with a message per field (in the request's language), and nothing is written;
- schemathesis (every check, a fixed seed, stateful links) finds no failure against
  the running app for a user, a Referent and staff;
- a client generated from the document by openapi-python-client submits a tasking
  request, reads the quota and lists orders;
- the README's API table is the document's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from werkzeug.serving import make_server

from dinamis import create_app
from dinamis.extensions import db
from tests.api.test_orders_api import api, body, counts  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_document_is_valid_and_every_parameter_has_a_schema(client):
    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    for path, methods in document["paths"].items():
        for name in re.findall(r"{(\w+)}", path):
            for method, operation in methods.items():
                declared = {p["name"]: p for p in operation.get("parameters", ())}
                assert declared[name]["schema"]["type"] == "integer", (method, path)
        for operation in methods.values():
            assert {"401", "403"} <= set(operation["responses"]), path
            if "requestBody" in operation:
                assert {"400", "422"} <= set(operation["responses"]), path


def test_servers_come_from_the_base_url(app, database_url):
    assert (
        app.config["DINAMIS_SETTINGS"].base_url
        in (app.test_client().get("/api/v1/openapi.json").get_json()["servers"][0]["url"])
    )
    other = create_app(
        {
            "env": "test",
            "database_url": database_url,
            "secret_key": "test-secret-key-" + "x" * 32,
            "base_url": "https://imagery.example.org/dinamis",
            "log_json": False,
        }
    )
    document = other.test_client().get("/api/v1/openapi.json").get_json()
    db.engine_of(other).dispose()
    assert document["servers"] == [{"url": "https://imagery.example.org/dinamis/api/v1"}]


def _post_raw(client, headers, path: str, text: str, language: str = "en"):
    return client.post(
        path,
        data=text,
        headers={**headers, "Content-Type": "application/json", "Accept-Language": language},
    )


def _with(changes: dict) -> str:
    return json.dumps(body(**changes))


POLYGON = [[[2, 45], [2.15, 45], [2.15, 45.15], [2, 45.15], [2, 45]]]
PROJECT = {"title": "Coast", "description": "d", "justification": "j", "theme": "coast"}


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        # booleans are not coordinates (they were read as 1 and 0: a 6,153 km² order)
        (
            _with({"aoi": {"type": "Polygon", "coordinates": [[[True, 45], *POLYGON[0][1:]]]}}),
            "aoi.coordinates.0.0.0",
            "number",
        ),
        (_with({"aoi": {}}), "aoi", "Polygon or MultiPolygon"),
        (_with({"max_cloud_cover": True}), "max_cloud_cover", "whole number"),
        (_with({"max_cloud_cover": 1.5}), "max_cloud_cover", "whole number"),
        (_with({"max_cloud_cover": "20"}), "max_cloud_cover", "whole number"),
        (
            _with({"aoi": {"type": "Polygon", "coordinates": POLYGON}}).replace("2.15,", "NaN,", 1),
            "aoi.coordinates.0.1.0",
            "finite",
        ),
        (
            _with({"aoi": {"type": "Polygon", "coordinates": POLYGON}}).replace(
                "2.15,", "Infinity,", 1
            ),
            "aoi.coordinates.0.1.0",
            "finite",
        ),
        (
            _with({"aoi": {"type": "Polygon", "coordinates": POLYGON}}).replace(
                "2.15,", "-1e999,", 1
            ),
            "aoi.coordinates.0.1.0",
            "finite",
        ),
        (
            _with({"project": {**PROJECT, "title": "x" * 1_000_000}}),
            "project.title",
            "200",
        ),
        (
            _with({"project": {**PROJECT, "theme": "astrology"}}),
            "project.theme",
            "agriculture",
        ),
        (_with({"sensor": None}), "sensor", "pleiades"),
        (_with({"priority": "high"}), "priority", "Unknown field"),
        (_with({"window": {"start": "2027-02-30", "end": "2027-03-30"}}), "window.start", "date"),
        (_with({"window": {"start": 20270101, "end": "2027-03-30"}}), "window.start", "date"),
        (json.dumps({"aoi": body()["aoi"]}), "sensor", "Required"),
    ],
)
def test_strict_bodies_are_refused_field_by_field(app, client, api, text, field, words):  # noqa: F811
    before = counts(app)
    response = _post_raw(client, api["user_a"], "/api/v1/tasking-requests", text)
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert field in error["fields"], error
    assert words in error["fields"][field], error
    assert counts(app) == before


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"order_id": 1e20}, "order_id", "whole number"),
        ({"order_id": 99999999999999999999}, "order_id", "2147483647"),
        ({"order_id": True}, "order_id", "whole number"),
        ({"year": 2025, "submit": "yes"}, "submit", "true or false"),
        (
            {"year": 2025, "publications": [{"title": "T", "year": 2024.5}]},
            "publications.0.year",
            "",
        ),
        ({"year": 2025, "themes": ["forest", 3]}, "themes.1", "text"),
        ({"year": 2025, "project": "p" * 301}, "project", "300"),
    ],
)
def test_report_bodies(app, client, api, payload, field, words):  # noqa: F811
    response = client.post(
        "/api/v1/reports", json=payload, headers={**api["user_a"], "Accept-Language": "en"}
    )
    assert response.status_code == 422, response.get_json()
    fields = response.get_json()["error"]["fields"]
    assert field in fields and words in fields[field], fields


def test_other_operations_are_strict_too(app, client, api):  # noqa: F811
    order = client.post("/api/v1/tasking-requests", json=body(), headers=api["user_a"]).get_json()
    base = f"/api/v1/tasking-requests/{order['id']}"
    staff = {**api["staff"], "Accept-Language": "en"}
    reject = client.post(f"{base}/reject", json={"comment": 5}, headers=staff)
    assert reject.status_code == 422 and "comment" in reject.get_json()["error"]["fields"]
    km2 = client.post(f"{base}/deliveries", json={"scene_id": "X", "km2": 1e999}, headers=staff)
    assert km2.status_code == 422 and "km2" in km2.get_json()["error"]["fields"]
    cancel = client.post(f"{base}/cancel", json={"reason": "r", "why": 1}, headers=api["user_a"])
    assert cancel.status_code == 422 and "why" in cancel.get_json()["error"]["fields"]
    for query in ("limit=1.5", "status=lost", "status=%00"):
        listed = client.get(f"/api/v1/tasking-requests?{query}", headers=api["user_a"])
        assert listed.status_code == 400, query
    assert client.get("/api/v1/quota?entity=1.5", headers=api["staff"]).status_code == 400
    # staff belong to no entity: naming one is a rule on them, not a malformed request
    unnamed = client.get("/api/v1/quota", headers=staff)
    assert unnamed.status_code == 422 and "entity" in unnamed.get_json()["error"]["fields"]
    huge = client.get("/api/v1/tasking-requests/99999999999999999999", headers=api["user_a"])
    assert huge.status_code == 404


def test_a_nul_character_is_refused_before_anything(app, client, api):  # noqa: F811
    """The app-wide rule (a 400 for a NUL anywhere); the schema's pattern says the same."""
    before = counts(app)
    text = _with({"project": {**PROJECT, "title": "Coast\u0000"}})
    response = _post_raw(client, api["user_a"], "/api/v1/tasking-requests", text)
    assert response.status_code == 400 and "NUL" in response.get_json()["error"]["message"]
    assert counts(app) == before


def test_messages_in_the_requests_language(app, client, api):  # noqa: F811
    response = _post_raw(
        client, api["user_a"], "/api/v1/tasking-requests", _with({"max_cloud_cover": 1.5}), "fr"
    )
    error = response.get_json()["error"]
    assert error["fields"]["max_cloud_cover"] == "Doit être un nombre entier."
    assert error["message"].startswith("Une partie de ce que vous avez envoyé")


# --- schemathesis against the running app ----------------------------------------------------


@pytest.fixture
def live(app) -> Iterator[str]:
    """The test app served over HTTP (one thread: it shares the test's rolled-back connection)."""
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def test_schemathesis_finds_no_failure(live, api, tmp_path):  # noqa: F811
    """Every check, a fixed seed, all phases (stateful through the document's links)."""
    log = Path(os.environ.get("API_CONTRACT_LOG") or tmp_path / "schemathesis.log")
    for who in os.environ.get("API_CONTRACT_AS", "user_a,referent_a,staff").split(","):
        with log.open("w") as out:
            result = subprocess.run(  # noqa: S603
                [
                    str(BIN / "schemathesis"),
                    "--config-file",
                    str(Path(__file__).with_name("schemathesis.toml")),
                    "--no-color",
                    "run",
                    f"{live}/api/v1/openapi.json",
                    "--url",
                    f"{live}/api/v1",
                    "--checks",
                    "all",
                    "--seed",
                    "20261207",
                    "--max-examples",
                    os.environ.get("API_CONTRACT_EXAMPLES", "3"),
                    "--phases",
                    os.environ.get("API_CONTRACT_PHASES", "examples,fuzzing,stateful"),
                    "--workers",
                    "1",
                    "--generation-database",
                    "none",
                    "--header",
                    "Authorization: " + api[who]["Authorization"],
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=600,
                cwd=tmp_path,
                check=False,
            )
        assert result.returncode == 0, f"as {who}:\n{log.read_text()[-15000:]}"


# --- a generated client --------------------------------------------------------------------

CLIENT_PROGRAM = """
import datetime as dt, sys
sys.path.insert(0, sys.argv[1])
from client import AuthenticatedClient
from client.api.default import create_tasking_request, get_quota, list_tasking_requests
from client.models import TaskingRequest

client = AuthenticatedClient(base_url=sys.argv[2], token=sys.argv[3])
start = dt.date.today() + dt.timedelta(days=10)  # ten days ahead: the zone does not matter
ring = [[2, 45], [2.15, 45], [2.15, 45.15], [2, 45.15], [2, 45]]
request = TaskingRequest.from_dict({
    "aoi": {"type": "Polygon", "coordinates": [ring]},
    "sensor": "pleiades",
    "window": {"start": start.isoformat(), "end": (start + dt.timedelta(days=60)).isoformat()},
    "project": {"title": "Coast", "description": "Erosion of the Atlantic coast.",
                "justification": "No recent image.", "theme": "coast"},
})
order = create_tasking_request.sync(client=client, body=request)
print("created", order.id, order.status, order.charged_km2)
quota = get_quota.sync(client=client)
print("quota", [(f.family, f.reserved_km2) for f in quota.families])
listed = list_tasking_requests.sync(client=client)
print("listed", [o.id for o in listed.orders])
"""


def test_a_generated_client_submits_reads_the_quota_and_lists(live, api, tmp_path):  # noqa: F811
    document = tmp_path / "openapi.json"
    import urllib.request

    with urllib.request.urlopen(f"{live}/api/v1/openapi.json") as answer:  # noqa: S310
        document.write_bytes(answer.read())
    generated = subprocess.run(  # noqa: S603
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(tmp_path / "client"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    ran = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            CLIENT_PROGRAM,
            str(tmp_path),
            f"{live}/api/v1",
            api["user_a"]["Authorization"].removeprefix("Bearer "),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    created = re.search(r"created (\d+) (\w+) ([\d.]+)", ran.stdout)
    assert created, ran.stdout
    assert f"listed [{created.group(1)}]" in ran.stdout
    assert re.search(r"\('tasking', '(\d+\.\d\d)'\)", ran.stdout)


# --- the README ------------------------------------------------------------------------------


def test_the_readme_api_table_is_the_documents(client):
    from dinamis.api.openapi import readme_table

    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- api-operations:start -->", "<!-- api-operations:end -->"
    assert start in readme and end in readme
    written = readme.split(start, 1)[1].split(end, 1)[0].strip()
    expected = readme_table(client.get("/api/v1/openapi.json").get_json()).strip()
    assert written == expected, "run: python scripts/api_readme.py (README's API table)"


def test_tools_are_installed():
    assert shutil.which("schemathesis", path=str(BIN)) and shutil.which(
        "openapi-python-client", path=str(BIN)
    )
