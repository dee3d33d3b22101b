"""The membership certificate: a time-stamped PDF with a verification code."""

from __future__ import annotations

import datetime as dt

from flask_babel import force_locale
from sqlalchemy import select

from dinamis.accounts.models import User
from dinamis.core import dates
from dinamis.core.pdf import render_pdf
from dinamis.core.web import external_url
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.membership.requests import Certificate, MembershipRequest, new_code


def issue_certificate(entity: Entity, request: MembershipRequest, referent: User) -> Certificate:
    """Render and store the certificate of a newly approved entity."""
    code = new_code()
    issued = dt.datetime.now(dt.UTC)
    with force_locale(request.language):
        pdf = render_pdf(
            "membership/certificate.html",
            entity=entity,
            request=request,
            referent=referent,
            code=code,
            issued=issued,
            verify=external_url("membership.verify", code=code),
        )
    certificate = Certificate(
        code=code,
        entity_id=entity.id,
        request_id=request.id,
        issued_at=issued,
        valid_until=entity.membership_end or dates.local_day(issued),
        documents=list(request.accepted_documents),
        pdf=pdf,
    )
    db.session.add(certificate)
    db.session.flush()
    return certificate


def by_code(code: str) -> Certificate | None:
    return db.session.scalar(select(Certificate).where(Certificate.code == code[:40]))


def latest_for(entity_id: int) -> Certificate | None:
    return db.session.scalar(
        select(Certificate)
        .where(Certificate.entity_id == entity_id)
        .order_by(Certificate.id.desc())
        .limit(1)
    )
