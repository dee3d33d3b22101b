"""Catalogue tests: the search's sample of the catalogue (search.estimate) is read again
for each test, whose scenes differ from the last one's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dinamis.catalogue import search


@pytest.fixture(autouse=True)
def _fresh_search_sample() -> Iterator[None]:
    search.forget_sample()
    yield
    search.forget_sample()
