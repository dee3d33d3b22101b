"""No English in the French interface, no French in the English one (issue 14, item 11).

Every page of the portal is walked in French and in English, as anonymous,
member, Referent and staff, over a busy portal. The phrases of the other
language come from the message catalogue itself (every user-visible string goes
through it) and from the data staff enter in both languages (profile names):
any of them on a page fails the test, with the page and the phrase.
"""

from __future__ import annotations

import html
import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from sqlalchemy import select

from dinamis.accounts import service as accounts
from dinamis.accounts.models import User
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity, Profile
from dinamis.orders.models import Order
from dinamis.reports.models import UsageReport
from dinamis.support import service as support
from dinamis.support.models import TicketMessage
from tests.conftest import login
from tests.factories import PROFILES
from tests.helpers import csrf_token
from tests.reports.test_statistics import busy  # noqa: F401 - the fixture
from tests.reports.test_usage_reports import delivered  # noqa: F401 - the fixture

FRENCH = Path(__file__).resolve().parents[2] / "dinamis/translations/fr/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdfr]|%%|<[^>]+>|\{[^}]*\}|…|\.\.\.")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
WORD = re.compile(r"[A-Za-zÀ-ÿ]{3,}")


def _fragments(text: str) -> set[str]:
    """The literal pieces of a message, between its placeholders, worth looking for."""
    pieces = set()
    for piece in PLACEHOLDER.split(text):
        piece = piece.strip(" .,:;()«»\"'!?·\u2014\u2013/\u202f\xa0%°-")
        if len(piece) >= 4 and WORD.search(piece):
            pieces.add(piece)
    return pieces


@cache
def _phrases() -> dict[str, set[str]]:
    """language -> the phrases that belong only to the other language."""
    with FRENCH.open("rb") as handle:
        catalogue = read_po(handle, locale="fr")
    english: set[str] = set()
    french: set[str] = set()
    english_texts: list[str] = []
    french_texts: list[str] = []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in ids:
            english |= _fragments(text)
            english_texts.append(text)
        for text in strings:
            french |= _fragments(text)
            french_texts.append(text)
    for fr, en in PROFILES.values():
        french.add(fr)
        english.add(en)

    def within(phrase: str, texts: list[str]) -> bool:
        pattern = re.compile(rf"(?<![\w]){re.escape(phrase)}(?![\w])")
        return any(phrase in t and pattern.search(t) for t in texts)

    # A phrase that the other language also writes (Pléiades Neo, Dinamis, SIRET,
    # "close" in "double-click to close it") is no one's.
    return {
        "fr": {p for p in english if not within(p, french_texts)},
        "en": {p for p in french if not within(p, english_texts)},
    }


def _visible(page: str) -> str:
    """What a reader sees or hears: the text, and the labels in attributes."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    said = " ".join(re.findall(r'(?:aria-label|title|alt|placeholder|data-label)="([^"]*)"', page))
    return html.unescape(re.sub(r"<[^>]+>", " ", page) + " " + said)


def _foreign(text: str, language: str) -> list[str]:
    found = []
    for phrase in _phrases()[language]:
        if phrase in text and re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text):
            found.append(phrase)
    # A phrase inside a longer one found is reported once.
    return sorted(p for p in found if not any(p != q and p in q for q in found))


@pytest.fixture
def portal(app, cast, busy):  # noqa: F811
    """The busy portal (a delivered order, allowances, downloads, a usage report)
    and a support request."""
    with app.app_context():
        user = accounts.get_user_by_email(cast.user_a)
        ticket = support.open_ticket(
            user, support.Draft(category="orders", subject="Livraison", body="Où est ma scène ?")
        )
        report = db.session.scalar(select(UsageReport.id).order_by(UsageReport.id))
        commit()
        return {"order": busy, "ticket": ticket.id, "report": report}


def _walk(cast, portal):
    anonymous = ["/", "/catalogue/", "/catalogue/scenes/DELIV_1", "/login", "/join"]
    anonymous += ["/join/account", "/forgot-password", "/support/new"]
    member = [
        "/",
        "/orders/",
        f"/orders/{portal['order']}",
        "/orders/tasking/new",
        f"/quota/{cast.entity_a}",
        "/catalogue/",
        "/catalogue/scenes/DELIV_1",
        "/catalogue/basket",
        "/catalogue/licences/phr",
        "/reports/",
        "/support/",
        f"/support/{portal['ticket']}",
        "/account",
    ]
    if portal["report"]:
        member.append(f"/reports/{portal['report']}")
    referent = ["/entity", "/entity/details", "/reports/entity", f"/orders/{portal['order']}"]
    staff = [
        "/admin/memberships",
        "/admin/entities",
        "/admin/audit",
        "/admin/entity-changes",
        "/reports/stats",
        "/orders/",
        f"/orders/{portal['order']}",
        f"/quota/{cast.entity_a}",
        "/support/",
        f"/support/{portal['ticket']}",
        "/reports/",
    ]
    return [
        (None, anonymous),
        (cast.user_a, member),
        (cast.referent_a, referent),
        (cast.staff, staff),
    ]


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_page_speaks_one_language(app, cast, portal, language):
    mixed = []
    with app.app_context():
        names = [u.full_name for u in db.session.scalars(select(User))]
        names += [e.name for e in db.session.scalars(select(Entity))]
        # What people wrote (project texts, requests) is in their own language.
        for order in db.session.scalars(select(Order)):
            names += [order.project_title, order.project_description, order.justification]
            names.append(order.funding or "")
        for message in db.session.scalars(select(TicketMessage)):
            names.append(message.body)
        names = sorted({n for n in names if n}, key=len, reverse=True)
    for email, paths in _walk(cast, portal):
        client = app.test_client()
        if email:
            login(client, email)
        client.post("/language", data={"language": language, "csrf_token": csrf_token(client, "/")})
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (email, path, response.status_code)
            page = response.get_data(as_text=True)
            assert f'<html lang="{language}"' in page, (email, path)
            text = _visible(page)
            for name in names:  # proper names: people and entities are no language's
                text = text.replace(name, " ")
            text = EMAIL.sub(" ", text)  # addresses are no language's either
            for phrase in _foreign(text, language):
                at = text.index(phrase)
                around = " ".join(text[max(0, at - 40) : at + len(phrase) + 40].split())
                mixed.append(f"{email or 'anonymous'} {path}: {phrase!r} in “{around}”")
    assert not mixed, f"{len(mixed)} phrase(s) of the other language:\n" + "\n".join(mixed)


def test_profiles_have_both_names(app, cast):
    with app.app_context():
        for profile in db.session.scalars(select(Profile)):
            assert profile.name("fr") != profile.name("en") or profile.code == "international"


def test_collection_titles_documents_and_profiles_in_the_readers_language(app, client, cast):
    from dinamis.catalogue.ingest import Report as IngestReport
    from dinamis.catalogue.ingest import load
    from dinamis.membership.models import LegalDocument

    collection = {
        "type": "Collection",
        "id": "spot-mosaics",
        "title": "SPOT 6-7 ortho mosaics of France",
        "license": "x",
        "dinamis": {
            "access": "profiles",
            "profiles": ["research-fr", "public-fr"],
            "sensor_family": "spot",
            "title_fr": "Mosaïques ortho SPOT 6-7 de la France",
        },
    }
    with app.app_context():
        load([("t", collection)], IngestReport())
        db.session.add(
            LegalDocument(
                kind="charter",
                code="charter-x",
                version="1.0",
                title="Dinamis Charter",
                body="Images serve public missions.",
                title_fr="Charte Dinamis",
                body_fr="Les images servent des missions publiques.",
            )
        )
        commit()
        document = db.session.scalar(select(LegalDocument).where(LegalDocument.code == "charter-x"))
        with app.test_request_context("/"):
            from flask_babel import force_locale

            with force_locale("fr"):
                assert document.local_title == "Charte Dinamis"
                assert document.local_body.startswith("Les images")
            with force_locale("en"):
                assert document.local_title == "Dinamis Charter"
    for language, title, other, profile in (
        ("fr", "Mosaïques ortho SPOT 6-7 de la France", "SPOT 6-7 ortho mosaics", "Recherche"),
        ("en", "SPOT 6-7 ortho mosaics of France", "Mosaïques ortho", "French research"),
    ):
        headers = {"Accept-Language": language}
        search = _visible(client.get("/catalogue/", headers=headers).get_data(as_text=True))
        assert title in search and other not in search
        licence = _visible(
            client.get("/catalogue/licences/spot-mosaics", headers=headers).get_data(as_text=True)
        )
        assert title in licence and profile in licence and "research-fr" not in licence


def test_the_scene_page_names_its_metadata(app, client, cast, busy):  # noqa: F811
    for language, word in (("fr", "Couverture nuageuse"), ("en", "Cloud cover")):
        page = client.get("/catalogue/scenes/DELIV_1", headers={"Accept-Language": language})
        text = _visible(page.get_data(as_text=True))
        assert "processing:level" not in text and "eo:cloud_cover" not in text
        assert "Acquired on" in text if language == "en" else "Acquise le" in text
        assert word in text or "cloud" not in text.lower()


def test_upload_parser_messages_are_in_the_readers_language(app, client, cast):
    import io

    bowtie = b'{"type": "Polygon", "coordinates": [[[2, 45], [3, 46], [3, 45], [2, 46], [2, 45]]]}'
    for language, body, expected, foreign in (
        ("fr", b'{"type": "Polygon" "coordinates": []}', "ligne 1", "Expecting"),
        ("en", b'{"type": "Polygon" "coordinates": []}', "line 1, column", "Expecting"),
        ("fr", bowtie, "se recoupe", "Self-intersection"),
        ("en", bowtie, "crosses itself near 2.5, 45.5", "Self-intersection"),
        ("fr", b"PK\x03\x04 not really a zip", "zip", "is not a zip"),
    ):
        name = "area.zip" if body.startswith(b"PK") else "area.geojson"
        answer = client.post(
            "/catalogue/aoi",
            data={"file": (io.BytesIO(body), name), "csrf_token": csrf_token(client, "/login")},
            headers={"Accept-Language": language, "Accept": "application/json"},
            content_type="multipart/form-data",
        )
        message = answer.get_json()["error"]["message"]
        assert answer.status_code == 400 and expected in message and foreign not in message, message


def test_codes_are_shown_as_words(app, client, cast):
    """Support categories and accepted documents are named, not coded."""
    with app.app_context():
        from dinamis.membership.models import LegalDocument, document_titles

        db.session.add(
            LegalDocument(
                kind="charter",
                code="charter",
                version="1.0",
                title="Dinamis Charter",
                body="b",
                title_fr="Charte Dinamis",
                body_fr="c",
            )
        )
        db.session.flush()
        with app.test_request_context("/"):
            from flask_babel import force_locale

            with force_locale("fr"):
                assert document_titles(["charter v1.0", "gone v2"]) == [
                    "Charte Dinamis (v1.0)",
                    "gone v2",
                ]
        user = accounts.get_user_by_email(cast.user_a)
        support.open_ticket(user, support.Draft(category="orders", subject="Livraison", body="?"))
        commit()
    login(client, cast.user_a)
    client.post("/language", data={"language": "en", "csrf_token": csrf_token(client, "/")})
    page = _visible(client.get("/support/").get_data(as_text=True))
    assert "Tasking and archive orders" in page
    assert not re.search(r"(?<!archive )\borders\b", page)  # the stored code
