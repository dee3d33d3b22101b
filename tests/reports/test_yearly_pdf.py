"""The programme's yearly PDF lists every entity with its figures and every publication."""

from __future__ import annotations

import io

from pypdf import PdfReader
from sqlalchemy import select

from dinamis.accounts import service as accounts
from dinamis.core.transaction import commit
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders.models import Order
from dinamis.reports import service, stats
from tests.helpers import written
from tests.reports.test_statistics import YEAR, busy  # noqa: F401 - the fixture
from tests.reports.test_usage_reports import delivered  # noqa: F401 - the fixture

LONG_NAME = "Agence B de recherche pour l'observation des territoires, de la mer et des forêts"


def made(app, email: str, year: str, entity_id: int | None = None) -> bytes:
    """A yearly PDF asked for and made as a worker makes it (reports.documents)."""
    from dinamis.reports import documents

    with app.app_context():
        document = documents.ask(accounts.get_user_by_email(email), int(year), entity_id)
        commit()
        documents.make(document.id, document.job_id)
        db.session.refresh(document)
        assert document.status == "ready" and document.content is not None
        return document.content


def _words(content: bytes) -> str:
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    return " ".join(text.split())


def test_programme_pdf_lists_every_entity_and_publication(app, client, cast, busy):  # noqa: F811
    with app.app_context():
        db.session.get(Entity, cast.entity_b).name = LONG_NAME  # wraps in the listing
        user = accounts.get_user_by_email(cast.user_a)
        report = service.start_for_order(user, db.session.get(Order, busy))
        content = service.ReportContent(
            project="Coast",
            themes=["coast"],
            scene_ids=["DELIV_1"],
            benefit="Erosion plan",
            publications=[("Dunes", 2026, "10.1234/dunes.1"), ("Cliffs", 2025, "")],
        )
        service.save(user, report, content)
        service.submit(user, report)
        commit()
        by_entity = stats.ledger(stats.Filters(period=YEAR), "entity")
    assert {r["group"] for r in by_entity} >= {"Laboratoire A", LONG_NAME}
    text = _words(made(app, cast.staff, YEAR))
    for r in by_entity:  # the name, whole, then its three figures
        figures = " ".join(
            written(app, r[k], words=True) for k in ("granted_km2", "consumed_km2", "cofunded_km2")
        )
        first_line = text[text.index(r["group"][:40]) :]
        assert first_line.startswith(r["group"][:40]) and figures in first_line[:200]
        assert r["group"] in text.replace(f" {figures}", "")
    assert "Dunes (2026) · doi:10.1234/dunes.1" in text and "Cliffs (2025)" in text


def test_entity_pdf_lists_every_order_with_its_figures(app, client, cast, busy):  # noqa: F811
    long_title = "Suivi du trait de côte entre Arcachon et Biarritz, dunes, falaises et estuaires"
    with app.app_context():
        template = db.session.get(Order, busy)
        columns = [c.key for c in Order.__table__.columns if c.key not in ("id", "created_at")]
        for n, (title, status) in enumerate(
            [(long_title, "draft"), ("Forêt landaise", "rejected"), ("Vignes", "cancelled")]
        ):
            copy = Order(**{c: getattr(template, c) for c in columns})
            copy.project_title, copy.status = title, status
            copy.charged_km2 = template.charged_km2 + n + 1
            db.session.add(copy)
        commit()
        orders = list(
            db.session.scalars(
                select(Order).where(Order.entity_id == cast.entity_a, Order.period == YEAR)
            )
        )
        expected = [
            (
                o.number,
                o.project_title,
                f"{written(app, o.charged_km2, words=True)} "
                f"{written(app, o.delivered_km2, words=True)}",
            )
            for o in orders
        ]
    assert len(expected) == 4 and any(o[2].split()[-1] != "0,00" for o in expected)
    text = _words(made(app, cast.staff, YEAR, cast.entity_a))
    for number, title, figures in expected:  # the number, the title whole, its km²
        line = text[text.index(number) :][:300]
        assert line.startswith(f"{number} {title[:20]}") and figures in line
        at = 0  # a long title continues on the next line, after the order's other columns
        for word in title.split():
            at = line.index(word, at) + len(word)
