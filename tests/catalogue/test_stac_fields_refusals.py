"""A malformed `fields` parameter of a STAC search is a 400 that says what is wrong, in
the asker's language (English unless Accept-Language asks for French)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("fields", "english", "french"),
    [
        (
            {"include": "id"},
            "fields.include must be a list of field names.",
            "fields.include doit être une liste de noms de champs.",
        ),
        (
            {"exclude": [1]},
            "fields.exclude must be a list of field names.",
            "fields.exclude doit être une liste de noms de champs.",
        ),
        (
            ["id"],
            'fields must be {"include": [...], "exclude": [...]}.',
            'fields doit être de la forme {"include": [...], "exclude": [...]}.',
        ),
    ],
)
def test_malformed_fields_are_refused_in_the_askers_language(client, fields, english, french):
    for language, words in (("en", english), ("fr", french)):
        response = client.post(
            "/stac/search", json={"fields": fields}, headers={"Accept-Language": language}
        )
        assert response.status_code == 400
        assert response.get_json()["description"] == words
