"""A surface model's co-funding quote as a PDF: the orders' quote page (orders/pdf.py)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dinamis.core.errors import NotFound
from dinamis.core.formats import localise
from dinamis.dsm.models import DsmRequest
from dinamis.orders.pdf import QuotedKind, QuoteSheet, request_sheet

SURFACE_MODEL = QuotedKind(
    _l("Surface model"),
    _l(
        "The entity's Referent accepts or declines this quote on the surface-model "
        "request's page. A declined or expired quote cancels the request."
    ),
)


def quote_sheet(request: DsmRequest) -> QuoteSheet:
    """The request's quote as the orders' quote page shows one (NotFound: it has none, being
    within the free allowance)."""
    if request.quote_valid_until is None or request.including_tax is None:  # set together
        raise NotFound(_("This request is within the free allowance: it has no quote."))
    details = [
        f"{_('Source scenes')}: {', '.join(request.source_ids)}",
        f"{_('Output resolution')}: {localise(request.resolution_m.normalize())} m",
    ]
    number, valid_until = f"Q-{request.number}", request.quote_valid_until
    return request_sheet(request, number, request, valid_until, SURFACE_MODEL, details)
