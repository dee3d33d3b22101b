"""The quote PDF says who, what, how much and until when."""

from __future__ import annotations

import io

from pypdf import PdfReader

from dinamis.extensions import db
from dinamis.orders.models import Order
from tests.conftest import login
from tests.orders.test_web import _form, _orders, _setup


def test_quote_pdf_content(app, client, cast):
    _setup(app, cast, allowance="100")
    login(client, cast.user_a)
    client.post("/orders/tasking/new", data=_form(client, side=0.2))
    (order,) = _orders(app)
    pdf = client.get(f"/orders/{order.id}/quote.pdf").data
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    with app.app_context():
        order = db.session.get(Order, order.id)
        quote = order.quotes[-1]
        assert quote.cofunded_km2 > 0 and quote.free_km2 > 0
        assert order.entity.name in text and order.number in text and quote.number in text
        assert f"{order.aoi_km2} km²" in text and quote.valid_until.isoformat() in text
        assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
        expected = [
            f"{order.charged_km2}",
            f"{quote.free_km2} 0.00 0.00",
            f"{quote.cofunded_km2} {quote.eur_per_km2} {quote.excluding_tax}",
            f"{quote.tax}",
            f"{quote.including_tax} €",
        ]
        price_lines = [line for line in lines if any(line.endswith(e) for e in expected)]
        for figures in expected:  # each row's figures, right-aligned at the line's end
            assert any(line.endswith(figures) for line in price_lines), (figures, lines)
