"""Plain factory functions with sensible defaults; call them in an app context."""

from __future__ import annotations

import datetime as dt
import hashlib

from shapely.geometry import MultiPolygon, Polygon, mapping
from sqlalchemy import select

from dinamis.accounts import service as accounts
from dinamis.accounts.models import User
from dinamis.catalogue.models import Collection, Scene
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


def make_collection(
    cid: str = "pleiades-test",
    *,
    sensor_family: str = "pleiades",
    access: str = "members",
    profiles: list[str] | None = None,
    orderable: bool = False,
) -> Collection:
    """A catalogue collection, through the ingest's own path."""
    from dinamis.catalogue.ingest import Report, load

    report = Report()
    record = {
        "type": "Collection",
        "id": cid,
        "title": cid,
        "license": f"lic-{cid}",
        "dinamis": {
            "access": access,
            "sensor_family": sensor_family,
            "profiles": profiles or [],
            "orderable": orderable,
        },
    }
    load([("test", record)], report)
    assert report.errors == [], report.errors
    return db.session.get_one(Collection, cid)


def make_scene(
    sid: str,
    footprint: Polygon | MultiPolygon,
    when: dt.datetime,
    *,
    collection: str = "pleiades-test",
    stereo_group: str | None = None,
    data: bytes | None = None,
) -> Scene:
    """A catalogue scene through the ingest; with a data file in the store when `data`."""
    from dinamis.catalogue.ingest import Report, load
    from dinamis.catalogue.storage import storage

    properties: dict[str, object] = {"datetime": when.isoformat()}
    if stereo_group:
        properties["dinamis:stereo_group"] = stereo_group
    item: dict[str, object] = {
        "type": "Feature",
        "id": sid,
        "collection": collection,
        "geometry": mapping(footprint),
        "properties": properties,
    }
    if data is not None:
        path = f"scenes/{sid}/{sid}.tif"
        storage().put(path, data)
        item["assets"] = {
            "data": {
                "href": path,
                "type": "image/tiff",
                "title": "Image",
                "roles": ["data"],
                "file:size": len(data),
                "file:checksum": "1220" + hashlib.sha256(data).hexdigest(),
            }
        }
    report = Report()
    load([("test", item)], report)
    assert report.errors == [], report.errors
    return db.session.get_one(Scene, sid)
