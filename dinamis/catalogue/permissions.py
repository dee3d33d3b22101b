"""Who may see and who may download the catalogue's collections.

Rules (DOMAIN.md, "Profiles and rights"):
- every collection's metadata, footprints and quicklooks are public;
- an open collection's files are for everyone, once its licence is accepted;
- a members collection's files are for signed-in members of an active entity,
  and staff;
- a profiles collection's files are for members whose entity's profile it
  lists, and staff.
Licences come on top of these rules (catalogue/service.py). The portal, the
STAC API, the basket's links and archive orders all ask these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeAlias

from flask_babel import gettext as _

from dinamis.accounts.permissions import is_signed_in
from dinamis.catalogue.models import Access, Collection

if TYPE_CHECKING:
    from dinamis.accounts.models import Visitor

# The person looking at the catalogue: a user, an anonymous visitor, or None (an
# anonymous visitor's signed link).
Viewer: TypeAlias = "Visitor | None"


class AccessRule(Protocol):
    """What the rules read of a collection (a `Collection`, or a row of its columns)."""

    @property
    def access(self) -> str: ...

    @property
    def profiles(self) -> list[str] | None: ...


def may_see(user: Viewer, collection: AccessRule) -> bool:
    """Whether the person may see the collection and its scenes' metadata, footprints
    and quicklooks: everyone may (only files are restricted, see `may_download`)."""
    return True


def may_download(user: Viewer, collection: AccessRule) -> bool:
    """The collection's access rule for its files, before any licence."""
    if collection.access == Access.OPEN:
        return True
    if not is_signed_in(user):
        return False
    if user.is_staff:
        return True
    entity = user.entity
    if entity is None or not entity.is_active:
        return False
    if collection.access == Access.MEMBERS:
        return True
    return entity.profile.code in (collection.profiles or [])


def refusal(user: Viewer, collection: Collection) -> str:
    """Why `may_download` says no, in words for the person."""
    if not is_signed_in(user):
        return _(
            "Sign in with a member account to download the files of %(c)s.",
            c=collection.local_title,
        )
    entity = user.entity
    if entity is None or not entity.is_active:
        return _("Your organisation's membership is not active; files cannot be downloaded.")
    return _(
        "The files of %(c)s are reserved to other member profiles than your organisation's.",
        c=collection.local_title,
    )
