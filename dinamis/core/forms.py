"""Pieces the domains' forms share."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import LazyString

from dinamis.core.labels import LABELS


def choices(codes: Iterable[str]) -> list[tuple[str, LazyString]]:
    """A select's options for stored codes: each code with its label (core.labels, the
    one wording of a code), capitalised as an option starts, in the reader's language."""
    found = list(codes)
    unlabelled = [code for code in found if code not in LABELS]
    assert not unlabelled, f"no label in core.labels for {unlabelled}"
    return [(code, LazyString(_option, code)) for code in found]


def _option(code: str) -> str:
    text = str(LABELS[code])
    return text[:1].upper() + text[1:]
