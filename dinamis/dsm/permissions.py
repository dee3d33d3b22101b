"""Who may do what with surface-model requests, and who downloads a delivered one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dinamis import config
from dinamis.accounts.permissions import (
    is_signed_in,
    is_staff,
    is_staff_owner_or_manager,
    manages_entity,
)
from dinamis.dsm.models import DsmRequest
from dinamis.orders.permissions import can_order

if TYPE_CHECKING:
    from dinamis.accounts.models import Visitor
    from dinamis.catalogue.permissions import Viewer


def can_request_dsm(user: Visitor) -> bool:
    """A member of an active entity (as for orders): staff do not ask for products."""
    return can_order(user)


def can_view_dsm_requests(user: Visitor) -> bool:
    return is_signed_in(user)


def can_view_dsm_request(user: Visitor, request: DsmRequest) -> bool:
    """The requester, the Referent and deputies of its entity, and staff."""
    return is_staff_owner_or_manager(user, request.requester_id, request.entity_id)


def can_cancel_dsm_request(user: Visitor, request: DsmRequest) -> bool:
    """The requester, the Referent or a deputy of its entity, and staff."""
    return is_staff_owner_or_manager(user, request.requester_id, request.entity_id)


def can_decide_dsm_quote(user: Visitor, request: DsmRequest) -> bool:
    """The entity's Referent (or a deputy) accepts or declines the co-funding quote."""
    return manages_entity(user, request.entity_id)


def can_see_dsm_log(user: Visitor) -> bool:
    """Staff read the engine's messages and log."""
    return is_staff(user)


def may_download_product(user: Viewer, request: DsmRequest) -> bool:
    """A delivered surface model: staff; then DINAMIS_DSM_DOWNLOAD_RULE, `entity` (the
    members of the requester's entity) or `collection` (every member the source scenes'
    collections let download them)."""
    if not is_signed_in(user):
        return False
    if is_staff(user):
        return True
    if config.current().dsm.download_rule == "entity":
        return bool(user.entity_id == request.entity_id and user.entity is not None)
    from dinamis.catalogue.models import Scene
    from dinamis.catalogue.permissions import may_download
    from dinamis.extensions import db

    scenes = [db.session.get(Scene, sid) for sid in request.source_ids]
    return all(s is not None and may_download(user, s.collection) for s in scenes)
