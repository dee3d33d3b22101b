"""The quote PDF says who, what, how much and until when."""

from __future__ import annotations

import io

from flask_babel import force_locale
from pypdf import PdfReader

from dinamis.core.formats import day, number
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
    with app.app_context(), force_locale("fr"):  # the requester reads French

        def n(value):  # the number as the PDF writes it in French, spaces as extracted
            return " ".join(number(value).split())

        order = db.session.get(Order, order.id)
        quote = order.quotes[-1]
        assert quote.cofunded_km2 > 0 and quote.free_km2 > 0
        assert order.entity.name in text and order.number in text and quote.number in text
        assert f"{n(order.aoi_km2)} km²" in text and day(quote.valid_until) in text
        assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
        expected = [
            f"{n(order.charged_km2)}",
            f"{n(quote.free_km2)} 0,00 0,00",
            f"{n(quote.cofunded_km2)} {n(quote.eur_per_km2)} {n(quote.excluding_tax)}",
            f"{n(quote.tax)}",
            f"{n(quote.including_tax)} €",
        ]
        price_lines = [line for line in lines if any(line.endswith(e) for e in expected)]
        for figures in expected:  # each row's figures, right-aligned at the line's end
            assert any(line.endswith(figures) for line in price_lines), (figures, lines)


def test_quote_user_agent_css_lays_the_quote_out_as_weasyprint_does(app, client, cast):
    """The quote's small user-agent stylesheet gives the page WeasyPrint's own gives."""
    from flask import render_template
    from weasyprint import HTML

    from dinamis.core.pdf import _renderer, html_to_pdf
    from dinamis.orders.pdf import QUOTE_USER_AGENT_CSS, order_sheet, quote_html_context

    _setup(app, cast, allowance="100")
    login(client, cast.user_a)
    client.post("/orders/tasking/new", data=_form(client, side=0.2))
    (order,) = _orders(app)
    with app.test_request_context(), app.app_context():
        order = db.session.get(Order, order.id)
        quote = order.quotes[-1]
        context = quote_html_context(order_sheet(order, quote))
        context.update(paths=["M10,10 L100,10 L100,100 Z"], width=110, height=110)
        html = render_template("orders/quote.html", **context)
        font_config, url_fetcher = _renderer()
        usual = HTML(string=html, url_fetcher=url_fetcher).write_pdf(font_config=font_config)
        small = html_to_pdf(html, QUOTE_USER_AGENT_CSS)
        number = order.number

    def laid_out(content: bytes) -> list[str]:
        reader = PdfReader(io.BytesIO(content))
        titles = [item["/Title"] for item in _flat(reader.outline)]
        return [p.extract_text(extraction_mode="layout") for p in reader.pages] + titles

    assert laid_out(small) == laid_out(usual)
    assert number in laid_out(small)[0]


def _flat(outline: list) -> list:
    return [i for item in outline for i in (_flat(item) if isinstance(item, list) else [item])]
