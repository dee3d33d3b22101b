"""An Item's `stac_extensions`: what the API gives back, and what a scene row stores for it.

The API gives back the item's list as ingested, then its own extensions (eo, view,
processing: the fields it writes) unless the item names them already, in whatever
version (`given_back`). A scene row stores the shortest head of the item's list from
which `given_back` makes the same list (`stored`): an item declaring exactly the API's
own three, the common case, is stored as `[]` instead of ~195 bytes a row (migration
0033; bench/README.md, "Database size"). What the API answers is the same either way.

Changing EXTENSIONS (a new version of one of them) would change what the rows stored
as a shorter head give back: migrate those rows first (append the old versions), as
0033 did the other way. `tests/catalogue/test_stac_fidelity.py` pins the list.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
]

_VERSION = re.compile(r"/v\d+(\.\d+)*(-[\w.]+)?/.*$")


def _name(url: str) -> str:
    """https://stac-extensions.github.io/eo/v2.0.0/schema.json -> …/eo"""
    return _VERSION.sub("", url)


def given_back(stored_or_given: Any) -> list[str]:
    """The item's stac_extensions as ingested, then the API's own (eo, view, processing)
    unless the item already declares them, in whatever version. Worked out once per
    distinct list (a page of 20 items matched six regular expressions per item)."""
    items = tuple(stored_or_given or ())
    try:
        return list(_given_back(items))
    except TypeError:  # an unhashable member (not a string: dropped anyway)
        return list(_given_back(tuple(e for e in items if isinstance(e, str))))


@lru_cache(maxsize=4096)
def _given_back(items: tuple[Any, ...]) -> tuple[str, ...]:
    declared = [e for e in items if isinstance(e, str)]
    names = {_name(e) for e in declared}
    return (*declared, *(e for e in EXTENSIONS if _name(e) not in names))


@lru_cache(maxsize=4096)
def _stored(given: tuple[str, ...]) -> list[str]:
    whole = given_back(given)
    for end in range(len(given) + 1):
        if given_back(given[:end]) == whole:
            return list(given[:end])
    return list(given)  # not reached: the whole list gives itself back


def stored(given: list[str]) -> list[str]:
    """What a scene row keeps of an item's (checked) stac_extensions: the shortest head
    of the list that `given_back` turns into the same list. Few distinct lists exist
    in a catalogue, so each is worked out once (cached)."""
    return _stored(tuple(given))
