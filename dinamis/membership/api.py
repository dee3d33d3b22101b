"""/api/v1/entities: an entity and its members, for its Referent (and deputies) and staff."""

from __future__ import annotations

from pydantic import AliasPath, Field

from dinamis.api.auth import api_account
from dinamis.api.openapi import Answer, Output, api_user_operation
from dinamis.api.serializers import IsoDate
from dinamis.core.loading import get_or_404
from dinamis.core.permissions import ensure
from dinamis.membership import members
from dinamis.membership.models import Entity
from dinamis.membership.permissions import can_view_entity


class EntityOut(Output):
    id: int
    name: str
    acronym: str | None
    status: str
    country: str | None
    national_id: str | None
    profile: str = Field(validation_alias=AliasPath("profile", "code"))
    membership_start: IsoDate | None
    membership_end: IsoDate | None


class MemberOut(Output):
    id: int
    email: str
    first_name: str
    last_name: str
    entity_role: str | None
    status: str


class MembersOut(Output):
    entity_id: int
    members: list[MemberOut]


def _entity(entity_id: int) -> Entity:
    entity = get_or_404(Entity, entity_id)
    ensure(can_view_entity(api_account(), entity.id))
    return entity


@api_user_operation(
    "GET /entities/<int:entity_id>", "getEntity", answers={200: Answer("The entity", EntityOut)}
)
def get_entity(entity_id: int) -> EntityOut:
    """An entity (its Referent, deputies and staff only)"""
    return EntityOut.model_validate(_entity(entity_id), from_attributes=True)


@api_user_operation(
    "GET /entities/<int:entity_id>/members",
    "getEntityMembers",
    answers={200: Answer("The members", MembersOut)},
)
def get_members(entity_id: int) -> MembersOut:
    """An entity's members (its Referent, deputies and staff only)"""
    entity = _entity(entity_id)
    return MembersOut(
        entity_id=entity.id,
        members=[
            MemberOut.model_validate(u, from_attributes=True) for u in members.members(entity.id)
        ],
    )
