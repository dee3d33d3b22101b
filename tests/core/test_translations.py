"""The French message catalogue: every string of the interface translated, none fuzzy.

Every user-visible string goes through Babel (`_`, `_l`, `pgettext`, templates'
`{{ _("...") }}`); the strings are extracted from the sources as `make
messages` does, and each must have a French entry that is neither empty nor
fuzzy, with the same placeholders as the English.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
FRENCH = ROOT / "dinamis" / "translations" / "fr" / "LC_MESSAGES" / "messages.po"


def _french() -> Catalog:
    with FRENCH.open("rb") as handle:
        return read_po(handle, locale="fr")


def _extracted() -> set[tuple[str | None, str, str]]:
    """(context, msgid, file:line) of every string the sources give to Babel."""
    keywords = dict(DEFAULT_KEYWORDS)
    keywords["_l"] = None  # lazy_gettext, as `pybabel extract -k _l`
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = set()
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        msgid = message[0] if isinstance(message, tuple | list) else message
        if msgid:
            found.add((context, msgid, f"{filename}:{lineno}"))
    return found


def test_every_string_of_the_sources_has_a_french_entry() -> None:
    french = _french()
    missing = sorted(
        f"{where}: {msgid!r}"
        for context, msgid, where in _extracted()
        if french.get(msgid, context=context) is None
    )
    assert not missing, "no French entry for:\n" + "\n".join(missing)


def test_no_french_entry_is_empty_or_fuzzy() -> None:
    untranslated = []
    for message in _french():
        if not message.id:
            continue  # the header
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(s and s.strip() for s in strings):
            untranslated.append(repr(message.id))
    assert not untranslated, "untranslated or fuzzy:\n" + "\n".join(untranslated)


def test_french_entries_keep_the_placeholders() -> None:
    french = _french()
    problems = [
        f"{message.id!r}: {error}" for message, errors in french.check() for error in errors
    ]
    assert not problems, "\n".join(problems)


def test_every_french_entry_is_used_by_the_sources() -> None:
    """An entry no source gives to Babel any more is dead: removed with its string."""
    used = {(context, msgid) for context, msgid, _where in _extracted()}
    unused = sorted(
        repr(message.id)
        for message in _french()
        if message.id
        and (message.context, message.id if isinstance(message.id, str) else message.id[0])
        not in used
    )
    assert not unused, "French entries no source uses:\n" + "\n".join(unused)
