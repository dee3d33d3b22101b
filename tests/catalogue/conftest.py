"""Catalogue tests: the search's sample of the catalogue (search.estimate) is read in the
request, not by a thread, and again for each test, whose scenes differ from the last one's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dinamis.catalogue import search


@pytest.fixture(autouse=True)
def _fresh_search_sample(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(search, "SAMPLE_IN_BACKGROUND", False)
    search.forget_sample()
    yield
    search.forget_sample()
