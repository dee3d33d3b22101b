"""JSON shapes of the API's resources."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from dinamis.accounts.models import User
from dinamis.api.openapi import Output


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


# A model's date or timestamp, read from its attribute, answered as ISO 8601 text.
IsoDate = Annotated[str, BeforeValidator(_iso)]


class EntityBrief(Output):
    id: int
    name: str
    acronym: str | None
    status: str


class ProfileBrief(Output):
    code: str
    name: str


class Me(Output):
    id: int
    email: str
    first_name: str
    last_name: str
    language: Literal["fr", "en"]
    status: str
    roles: list[str]
    entity: EntityBrief | None
    profile: ProfileBrief | None


def me_json(user: User) -> Me:
    entity = user.entity
    return Me.model_validate(
        {
            "id": user.id,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "language": user.language,
            "status": user.status,
            "roles": user.roles,
            "entity": (
                {
                    "id": entity.id,
                    "name": entity.name,
                    "acronym": entity.acronym,
                    "status": entity.status,
                }
                if entity
                else None
            ),
            "profile": (
                {"code": entity.profile.code, "name": entity.profile.name(user.language)}
                if entity
                else None
            ),
        }
    )
