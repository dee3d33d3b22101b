"""/api: the API's reference page, rendered from the OpenAPI document."""

from __future__ import annotations

import re


def test_every_documented_operation_is_on_the_reference_page(client):
    spec = client.get("/api/v1/openapi.json").json
    page = client.get("/api", headers={"Accept-Language": "en"}).get_data(as_text=True)
    listed = set(re.findall(r"<h2><code>([A-Z]+) /api/v1([^<]+)</code></h2>", page))
    documented = {(m.upper(), p) for p, ms in spec["paths"].items() for m in ms}
    assert documented and listed == documented
    # a request body's fields, nested ones flattened, and what the answers hold
    assert "<code>window.start</code>" in page and "<code>project.title</code>" in page
    assert 'href="#schema-TaskingRequest"' in page and 'id="schema-TaskingRequest"' in page
    assert "Authorization: Bearer" in page and 'href="/api/v1/openapi.json"' in page
