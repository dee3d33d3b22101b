"""A surface model's co-funding quote as a PDF: the orders' quote page (orders/pdf.py)."""

from __future__ import annotations

from flask_babel import gettext as _
from geoalchemy2.shape import to_shape

from dinamis.core.errors import NotFound
from dinamis.core.formats import localise
from dinamis.core.geo import polygons
from dinamis.dsm.models import DsmRequest
from dinamis.orders.pdf import QuoteSheet, priced


def quote_sheet(request: DsmRequest) -> QuoteSheet:
    """The request's quote as the orders' quote page shows one (NotFound: it has none, being
    within the free allowance)."""
    if request.quote_valid_until is None or request.including_tax is None:  # set together
        raise NotFound(_("This request is within the free allowance: it has no quote."))
    return QuoteSheet(
        number=f"Q-{request.number}",
        issued=request.created_at,
        valid_until=request.quote_valid_until,
        entity=request.entity,
        heading=_("Surface model"),
        lines=[
            f"{request.number} · {request.project_title}",
            f"{_('Source scenes')}: {', '.join(request.source_ids)}",
            f"{_('Output resolution')}: {localise(request.resolution_m.normalize())} m",
            f"{_('Area of interest')}: {localise(request.aoi_km2)} km²",
        ],
        aoi=polygons(to_shape(request.aoi)),
        charged_km2=request.charged_km2,
        **priced(request),
        closing=_(
            "The entity's Referent accepts or declines this quote on the surface-model "
            "request's page. A declined or expired quote cancels the request."
        ),
    )
