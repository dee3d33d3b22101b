"""JSON shapes of the API's resources."""

from __future__ import annotations

from typing import Any

from dinamis.accounts.models import User


def me_json(user: User) -> dict[str, Any]:
    entity = user.entity
    return {
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
