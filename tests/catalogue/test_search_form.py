"""The catalogue page's search form speaks the user's words, at the field
(issue 14, item 6): no API parameter names, every wrong field at once, above the
results."""

from __future__ import annotations

import html
import re

import pytest

from tests.catalogue.test_stac import scenes  # noqa: F401 - the fixture

API_WORDS = ("max_cloud", "max_incidence", "RFC 3339", "intersects", "datetime", "sortby", "bbox")


def _field_error(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{name}-error">([^<]*)</p>', page)
    assert found, f"no error at {name}"
    return html.unescape(found.group(1))


def _visible_text(page: str) -> str:
    """The page's text without its tags, attributes and scripts (where names live)."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_wrong_field_is_named_in_its_own_words(client, scenes, language):  # noqa: F811
    query = {
        "aoi": '{"type": "Polygon", "coordinates": [[[2, 45], [3, 46]',
        "start": "2024-06-01",
        "end": "2024-05-01",
        "max_cloud": "1e309",
        "max_incidence": "95",
        "sortby": "-foo",
        "collections": "nope",
    }
    client.get("/", headers={"Accept-Language": language})
    response = client.get("/catalogue/", query_string=query, headers={"Accept-Language": language})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    for name in ("aoi", "end", "max_cloud", "max_incidence", "sortby", "collections"):
        _field_error(page, name)
        assert f'id="{name}"' in page and f'aria-describedby="{name}-error"' in page
    text = _visible_text(page)
    for word in API_WORDS:
        assert word not in text, word
    # The summary comes before the form and the results, naming each field by its label.
    summary = page.index('id="search-errors"')
    assert summary < page.index('<form method="get"') < page.index('class="table results"')
    if language == "en":
        assert "Max cloud cover (%): Enter a number between 0 and 100." in text
        assert "The end date is before the start date." in _field_error(page, "end")
    else:
        assert "Couverture nuageuse max. (%)" in text or "nuageuse" in text
        assert "Saisissez un nombre entre 0 et 100." in _field_error(page, "max_cloud")


def test_a_good_search_has_no_error(client, scenes):  # noqa: F811
    response = client.get("/catalogue/", query_string={"max_cloud": "10", "sortby": "+datetime"})
    assert response.status_code == 200 and "field-error" not in response.get_data(as_text=True)


def test_a_page_token_of_another_search_is_said_in_words(client, scenes):  # noqa: F811
    response = client.get("/catalogue/", query_string={"token": "garbage"})
    text = _visible_text(response.get_data(as_text=True))
    assert response.status_code == 400 and "token" not in text.lower()
