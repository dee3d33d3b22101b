"""Load the demo data in seed/*.yaml through the same services as the app.

Idempotent: a profile, entity or user that already exists (by code, name or
e-mail) is left as it is, so `make run` can load the seed every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from dinamis.accounts import service as accounts
from dinamis.accounts.models import EntityRole, Role
from dinamis.extensions import db
from dinamis.membership.models import Entity, Profile


def _read(directory: Path) -> dict[str, Any]:
    with (directory / "demo.yaml").open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError("seed/demo.yaml must hold a mapping")
    return data


def load(directory: Path) -> list[str]:
    """Load the seed; return one line per kind of record saying what changed."""
    data = _read(directory)
    session = db.session
    added = {"profiles": 0, "entities": 0, "users": 0}

    profiles: dict[str, Profile] = {}
    for item in data.get("profiles", []):
        profile = session.scalar(select(Profile).where(Profile.code == item["code"]))
        if profile is None:
            profile = Profile(code=item["code"], name_fr=item["name_fr"], name_en=item["name_en"])
            session.add(profile)
            added["profiles"] += 1
        profiles[profile.code] = profile
    session.flush()

    entities: dict[str, Entity] = {}
    for item in data.get("entities", []):
        entity = session.scalar(select(Entity).where(Entity.name == item["name"]))
        if entity is None:
            entity = Entity(
                name=item["name"], acronym=item.get("acronym"), profile=profiles[item["profile"]]
            )
            session.add(entity)
            added["entities"] += 1
        entities[entity.name] = entity
    session.flush()

    password = data["password"]
    for item in data.get("users", []):
        if accounts.get_user_by_email(item["email"]) is not None:
            continue
        accounts.create_user(
            email=item["email"],
            first_name=item["first_name"],
            last_name=item["last_name"],
            password=password,
            role=item.get("role", Role.USER),
            entity=entities[item["entity"]] if "entity" in item else None,
            entity_role=item.get("entity_role", EntityRole.MEMBER if "entity" in item else None),
            language=item.get("language", "fr"),
        )
        added["users"] += 1
    session.flush()
    from seed.catalogue import load_catalogue
    from seed.membership import load_membership
    from seed.quota import load_quota

    lines = [f"{kind}: {count} added" for kind, count in added.items()]
    from seed.activity import load_activity

    return (
        lines
        + load_membership(directory)
        + load_quota(directory)
        + load_catalogue()
        + load_activity()
    )
