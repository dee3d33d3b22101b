"""Seed the legal documents and the demo entities' membership details."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from sqlalchemy import select

from dinamis.extensions import db
from dinamis.membership.models import Entity, LegalDocument


def load_membership(directory: Path, today: dt.date | None = None) -> list[str]:
    """Add missing document versions; give demo entities a membership period and domain."""
    with (directory / "documents.yaml").open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    added = 0
    for item in data.get("documents", []):
        exists = db.session.scalar(
            select(LegalDocument).where(
                LegalDocument.code == item["code"], LegalDocument.version == item["version"]
            )
        )
        if exists is not None and exists.title_fr is None and item.get("title_fr"):
            # A database seeded before documents had a French text (migration 0018).
            exists.title_fr, exists.body_fr = item["title_fr"], item.get("body_fr")
        if exists is None:
            for older in db.session.scalars(
                select(LegalDocument).where(LegalDocument.code == item["code"])
            ):
                older.current = False
            db.session.add(LegalDocument(**item, current=True))
            added += 1
    today = today or dt.date.today()
    for entity in db.session.scalars(select(Entity).where(Entity.membership_start.is_(None))):
        entity.membership_start = today.replace(month=1, day=1)
        entity.membership_end = entity.membership_start.replace(year=today.year + 3) - dt.timedelta(
            days=1
        )
        domain = {"Laboratoire A": "labo-a.test", "Agence B": "agence-b.test"}.get(entity.name)
        if domain and not entity.email_domains:
            entity.email_domains = [domain]
    db.session.flush()
    return [f"legal documents: {added} added"]
