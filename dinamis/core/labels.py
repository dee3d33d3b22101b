"""Readable, translated labels for the codes stored in the database (states, kinds...)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

LABELS = {
    # reports and statistics
    "entity": _l("entity"),
    "profile": _l("profile"),
    "sensor": _l("sensor"),
    "family": _l("family"),
    "submitted": _l("submitted"),
    "returned": _l("sent back"),
    "annual": _l("yearly"),
    "agriculture": _l("agriculture"),
    "forest": _l("forest"),
    "coast": _l("coast"),
    "urban": _l("urban"),
    "risks": _l("natural risks"),
    "water": _l("water"),
    "biodiversity": _l("biodiversity"),
    "geology": _l("geology"),
    "other": _l("other"),
    # orders
    "draft": _l("draft"),
    "awaiting_quote": _l("awaiting quote acceptance"),
    "under_review": _l("under review"),
    "accepted": _l("accepted"),
    "partially_delivered": _l("partially delivered"),
    "delivered": _l("delivered"),
    "closed": _l("closed"),
    "rejected": _l("rejected"),
    "cancelled": _l("cancelled"),
    "expired": _l("expired"),
    # background jobs (the scheduler page)
    "todo": _l("waiting"),
    "doing": _l("running"),
    "succeeded": _l("succeeded"),
    "failed": _l("failed"),
    "aborted": _l("aborted"),
    "tasking": _l("tasking"),
    "archive": _l("archive"),
    "neo": _l("Pléiades Neo"),
    "dsm": _l("surface models"),
    "mono": _l("mono"),
    "stereo": _l("stereo"),
    "tristereo": _l("tri-stereo"),
    "pleiades": "Pléiades",
    "pleiades-neo": "Pléiades Neo",
    "spot": "SPOT 6-7",
    # quotes and postings
    "pending": _l("pending"),
    "declined": _l("declined"),
    "grant": _l("allowance granted"),
    "adjustment": _l("adjustment"),
    "reserve": _l("reserved"),
    "release": _l("released"),
    "consume": _l("consumed"),
    "cofund": _l("co-funded"),
    # membership
    "email_to_confirm": _l("e-mail to confirm"),
    "details_to_give": _l("details to give"),
    "awaiting_legal_rep": _l("awaiting the Legal Representative"),
    "awaiting_review": _l("awaiting review"),
    "approved": _l("approved"),
    "withdrawn": _l("withdrawn"),
    "refused": _l("refused"),
    "active": _l("active"),
    "suspended": _l("suspended"),
    "removed": _l("removed"),
    "member": _l("member"),
    "deputy": _l("deputy referent"),
    "referent": _l("referent"),
    # catalogue
    "primary": _l("primary (sensor geometry)"),
    "ortho": _l("ortho-rectified"),
    "PAN": _l("panchromatic (PAN)"),
    "MS": _l("multispectral (MS)"),
    "PMS": _l("pansharpened (PMS)"),
    "bundle": _l("bundle (PAN + MS)"),
    # support
    "open": _l("open"),
    "answered": _l("answered"),
    # support categories (as the request form names them; "other" is above)
    "account": _l("My account"),
    "membership": _l("Membership"),
    "catalogue": _l("Catalogue and downloads"),
    "orders": _l("Tasking and archive orders"),
    "quota": _l("Quota and co-funding"),
    "reports": _l("Usage reports"),
    # sectors of activity (as the membership details form names them)
    "research": _l("Research and higher education"),
    "state": _l("State services"),
    "local": _l("Local authorities"),
    "public_body": _l("Public bodies and agencies"),
    "teaching": _l("Teaching"),
    "association": _l("Public-interest associations"),
    "company": _l("Companies (R&D or public contract)"),
    "foreign_research": _l("Foreign research institutes"),
    # saved searches and alerts
    "at_once": _l("at once"),
    "daily": _l("daily digest"),
    "weekly": _l("weekly digest"),
    "email": _l("by e-mail"),
    "webhook": _l("by webhook"),
    "sent": _l("sent"),
}


def label(code: object) -> str:
    """The translated label of a stored code; the code itself when it has none."""
    return str(LABELS.get(str(code), code))
