"""Plain factory functions with sensible defaults; call them in an app context."""

from __future__ import annotations

from sqlalchemy import select

from dinamis.accounts import service as accounts
from dinamis.accounts.models import User
from dinamis.extensions import db
from dinamis.membership.models import Entity, Profile

PASSWORD = "correct-horse-battery"

PROFILES = {
    "research-fr": ("Recherche française", "French research"),
    "public-fr": ("Acteurs publics français", "French public actors"),
    "private-fr": ("R&D privée", "Private R&D"),
    "international": ("Science internationale", "International science"),
}


def make_profile(code: str = "research-fr") -> Profile:
    profile = db.session.scalar(select(Profile).where(Profile.code == code))
    if profile is None:
        fr, en = PROFILES.get(code, (code, code))
        profile = Profile(code=code, name_fr=fr, name_en=en)
        db.session.add(profile)
        db.session.flush()
    return profile


def make_entity(
    name: str = "Laboratoire Test", *, profile_code: str = "research-fr", **kw: object
) -> Entity:
    entity = Entity(name=name, profile=make_profile(profile_code), **kw)
    db.session.add(entity)
    db.session.flush()
    return entity


def make_user(
    email: str = "someone@labo.test",
    *,
    role: str = "user",
    entity: Entity | None = None,
    entity_role: str | None = None,
    password: str | None = PASSWORD,
    language: str = "fr",
    status: str = "active",
) -> User:
    if role == "user" and entity is None:
        entity = make_entity(f"Entity of {email}")
    local = email.split("@")[0]
    return accounts.create_user(
        email=email,
        first_name=local.split(".")[0].title(),
        last_name="Test",
        password=password,
        role=role,
        entity=entity,
        entity_role=entity_role,
        language=language,
        status=status,
    )
