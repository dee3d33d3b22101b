"""The co-funding quote as a PDF, with a drawing of the area of interest: an order's, and a
surface model's (dinamis.dsm.pdf), on the same page."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Response
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon
from weasyprint import CSS

from dinamis.core.formats import localise
from dinamis.core.formats import number as format_number
from dinamis.core.geo import polygons
from dinamis.core.labels import label
from dinamis.core.pdf import pdf_response, render_pdf, text_table
from dinamis.dsm.models import DsmRequest
from dinamis.membership.models import Entity
from dinamis.orders.models import Order, Quote


def aoi_svg_paths(aoi: MultiPolygon, size: int = 300) -> tuple[list[str], int, int]:
    """SVG path data for the AOI, scaled into a size x size box (north up)."""
    minx, miny, maxx, maxy = aoi.bounds
    # Equirectangular drawing: a degree of longitude shrinks with latitude.
    shrink = max(math.cos(math.radians((miny + maxy) / 2)), 0.05)
    span = max((maxx - minx) * shrink, maxy - miny) or 1.0
    scale = (size - 20) / span

    def point(x: float, y: float) -> str:
        return f"{(x - minx) * shrink * scale + 10:.1f},{(maxy - y) * scale + 10:.1f}"

    paths = []
    for polygon in aoi.geoms:
        rings = [polygon.exterior, *polygon.interiors]
        paths.append(
            " ".join("M" + " L".join(point(x, y) for x, y in ring.coords) + " Z" for ring in rings)
        )
    width = int((maxx - minx) * shrink * scale + 20)
    height = int((maxy - miny) * scale + 20)
    return paths, width, height


# What WeasyPrint's HTML user-agent stylesheet gives the quote's elements,
# and nothing else (see core.pdf.html_to_pdf): the same page, 3 ms less of
# CSS matching. An element added to templates/orders/quote.html needs its
# rules here.
QUOTE_USER_AGENT_CSS = CSS(
    string="""
    head, link, meta, script, style, title { display: none }
    body, div, h1, h2, html, p { display: block }
    body { margin: 8px }
    p { margin-top: 1em; margin-bottom: 1em }
    h1, h2 { font-weight: bold; bookmark-label: content(text); hyphens: manual;
             break-after: avoid; break-inside: avoid }
    h1 { font-size: 2em; margin-top: .67em; margin-bottom: .67em; bookmark-level: 1 }
    h2 { font-size: 1.5em; margin-top: .83em; margin-bottom: .83em; bookmark-level: 2 }
    b, strong { font-weight: bold }
    br::before { content: "\\A"; white-space: pre-line }
    svg { overflow: hidden }
    @page { @bottom-center { text-align: center; vertical-align: middle } }
    """
)

# Item, km², €/km², € in characters of the monospaced price block (10 pt).
PRICE_COLUMNS = (36, 12, 10, 14)


@dataclass(frozen=True)
class QuoteSheet:
    """What a co-funding quote's PDF shows: one page for an order's quote and a surface
    model's alike (`order_sheet`, `dinamis.dsm.pdf.quote_sheet`)."""

    number: str
    issued: dt.date | dt.datetime
    valid_until: dt.date
    entity: Entity
    heading: str  # what is quoted: "Order", "Surface model"
    lines: list[str]  # its description, a line each
    aoi: MultiPolygon
    charged_km2: Decimal
    free_km2: Decimal
    cofunded_km2: Decimal
    eur_per_km2: Decimal
    excluding_tax: Decimal
    tax_rate: Decimal
    tax: Decimal
    including_tax: Decimal
    closing: str  # who decides, and what a declined or expired quote does


# The quote's figures, named alike on an order's Quote and a DsmRequest.
PRICED = (
    "free_km2",
    "cofunded_km2",
    "eur_per_km2",
    "excluding_tax",
    "tax_rate",
    "tax",
    "including_tax",
)


def priced(source: Quote | DsmRequest) -> dict[str, Any]:
    """The quote's figures read from `source` (a Quote, a DsmRequest), for a QuoteSheet."""
    return {name: getattr(source, name) for name in PRICED}


@dataclass(frozen=True)
class QuotedKind:
    """What a quote's page says of the kind of request it quotes."""

    heading: LazyString  # what is quoted: "Order", "Surface model"
    closing: LazyString  # who decides, and what a declined or expired quote does


ORDER = QuotedKind(
    _l("Order"),
    _l(
        "The entity's Referent accepts or declines this quote on the order's page. A "
        "declined or expired quote cancels the order."
    ),
)


def request_sheet(
    request: Order | DsmRequest,
    number: str,
    quote: Quote | DsmRequest,
    valid_until: dt.date,
    kind: QuotedKind,
    details: list[str],
) -> QuoteSheet:
    """The quote page of `request` (an order, a surface-model request), its quote numbered
    `number`, priced by `quote` (the order's Quote; a DsmRequest is priced itself) and valid
    until `valid_until`; `details` describe the request between its title and its area."""
    return QuoteSheet(
        number=number,
        issued=quote.created_at or dt.datetime.now(dt.UTC),
        valid_until=valid_until,
        entity=request.entity,
        heading=str(kind.heading),
        lines=[
            f"{request.number} · {request.project_title}",
            *details,
            f"{_('Area of interest')}: {localise(request.aoi_km2)} km²",
        ],
        aoi=polygons(to_shape(request.aoi)),
        charged_km2=request.charged_km2,
        **priced(quote),
        closing=str(kind.closing),
    )


def order_sheet(order: Order, quote: Quote) -> QuoteSheet:
    details = [
        f"{_('Sensor')}: {label(order.sensor)} · {_('Mode')}: {label(order.mode)}",
        f"{_('Window')}: {localise(order.window_start)} → {localise(order.window_end)}",
    ]
    return request_sheet(order, quote.number, quote, quote.valid_until, ORDER, details)


def price_lines(sheet: QuoteSheet) -> dict[str, Any]:
    """The quote's price block as fixed-width lines: its heading, its rows, its total.

    Fixed-width text rather than a table: WeasyPrint lays out each table cell
    as a box of its own, and the 24 cells cost a fifth of the quote's time.
    """
    tax = _("Tax (%(rate)s %%)", rate=format_number(round(sheet.tax_rate * 100, 2)))
    (head, *rows, total) = text_table(
        [
            (_("Item"), "km²", "€/km²", "€"),
            (_("Charged area (mode included)"), sheet.charged_km2, "", ""),
            (_("Free allowance used"), sheet.free_km2, Decimal("0.00"), Decimal("0.00")),
            (_("Co-funded part"), sheet.cofunded_km2, sheet.eur_per_km2, sheet.excluding_tax),
            (tax, "", "", sheet.tax),
            (_("Total including tax"), "", "", f"{format_number(sheet.including_tax)} €"),
        ],
        PRICE_COLUMNS,
    )
    return {"head": head, "rows": rows, "total": total}


def quote_html_context(sheet: QuoteSheet) -> dict[str, Any]:
    """What templates/orders/quote.html is rendered with."""
    paths, width, height = aoi_svg_paths(sheet.aoi)
    return {
        "sheet": sheet,
        "prices": price_lines(sheet),
        "paths": paths,
        "width": width,
        "height": height,
    }


def quote_pdf(sheet: QuoteSheet) -> bytes:
    return render_pdf(
        "orders/quote.html", user_agent_css=QUOTE_USER_AGENT_CSS, **quote_html_context(sheet)
    )


def quote_pdf_response(sheet: QuoteSheet) -> Response:
    return pdf_response(quote_pdf(sheet), f"dinamis-quote-{sheet.number}.pdf")
