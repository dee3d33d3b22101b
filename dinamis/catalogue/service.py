"""Scene files: licences accepted, who may download what now, signed links, the basket,
the download log.

Who may download a collection's files is decided in catalogue/permissions.py; here
come the licence on top of it, and what a person does with files. A member's
licences and basket are kept with the account; an anonymous visitor's travel in a
`Visit`, which the views keep in the visitor's Flask session (catalogue/views.py):
the functions here read and change the `Visit` they are given, never the session.
The same functions answer the portal, the STAC API and the basket's links, and a
signed link is checked again when it is used. Also: a scene's stereo group, which
orders and surface models are made from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from geoalchemy2.shape import to_shape
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from shapely.geometry import mapping
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from dinamis import config
from dinamis.accounts.permissions import is_signed_in
from dinamis.catalogue.models import (
    Access,
    BasketItem,
    Collection,
    Download,
    DownloadVia,
    LicenceAcceptance,
    Scene,
    quicklook_key,
)
from dinamis.catalogue.permissions import Viewer, may_download, refusal
from dinamis.catalogue.storage import StorageError, clean_key
from dinamis.core.errors import Forbidden, NotFound, ServiceError
from dinamis.extensions import db

MAX_ADD = 1000  # scene ids read from one "add to the basket" request
LINK_SALT = "dinamis.download-link"
HEX = frozenset("0123456789abcdef")


def stereo_group(scene: Scene) -> list[Scene]:
    """The scene and the other scenes of its stereo or tri-stereo group, oldest first
    (the scene alone when it has no group)."""
    if not scene.stereo_group:
        return [scene]
    return list(
        db.session.scalars(
            select(Scene)
            .where(Scene.stereo_group == scene.stereo_group)
            .order_by(Scene.datetime, Scene.id)
        )
    )


@dataclass
class Visit:
    """What an anonymous visitor did in this browser: the licences they accepted
    ("code:version") and the scene ids in their basket, oldest first."""

    licences: list[str] = field(default_factory=list)
    basket: list[str] = field(default_factory=list)


class LicenceRequired(Forbidden, code="licence_required"):
    """The file is allowed, but its licence has not been accepted yet."""

    def __init__(self, collection: Collection) -> None:
        super().__init__(
            _(
                "Accept the licence %(licence)s (version %(version)s) of %(collection)s"
                " before downloading its files.",
                licence=collection.licence_code,
                version=collection.licence_version,
                collection=collection.local_title,
            )
        )
        self.collection = collection


class LinkExpired(ServiceError, status=410, code="gone"):
    """A signed download link past its time."""


# --- licences ------------------------------------------------------------------


def _licence_key(collection: Collection) -> str:
    return f"{collection.licence_code}:{collection.licence_version}"


def licence_accepted(user: Viewer, collection: Collection, visit: Visit) -> bool:
    """Whether the person accepted the collection's licence version: recorded for a
    member, or in this visit (before signing in, for an open collection)."""
    if is_signed_in(user):
        found = db.session.scalar(
            select(LicenceAcceptance.id).where(
                LicenceAcceptance.user_id == user.id,
                LicenceAcceptance.licence_code == collection.licence_code,
                LicenceAcceptance.licence_version == collection.licence_version,
            )
        )
        if found is not None:
            return True
    return _licence_key(collection) in visit.licences


def accept_licence(user: Viewer, collection: Collection, visit: Visit) -> None:
    """Record the acceptance: once per member and licence version; in the visit otherwise."""
    if not may_download(user, collection):
        raise Forbidden(refusal(user, collection))
    if is_signed_in(user):
        db.session.execute(
            insert(LicenceAcceptance)
            .values(
                user_id=user.id,
                licence_code=collection.licence_code,
                licence_version=collection.licence_version,
            )
            .on_conflict_do_nothing(constraint="uq_licence_once")
        )
        db.session.flush()
    else:  # an anonymous visitor: only open collections get here
        accepted = [k for k in visit.licences if k != _licence_key(collection)]
        visit.licences = [*accepted, _licence_key(collection)]


# --- files -----------------------------------------------------------------------


@dataclass(frozen=True)
class File:
    scene: Scene
    key: str  # the asset's name in the item
    path: str  # its key in the store
    media_type: str
    title: str
    size: int | None
    checksum: str | None

    @property
    def sha256(self) -> str | None:
        """The hex SHA-256 when the checksum is a sha2-256 multihash (STAC file extension)."""
        value = self.checksum or ""
        if len(value) == 68 and value.startswith("1220") and all(c in HEX for c in value[4:]):
            return value[4:]
        return None

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def files_of(scene: Scene) -> list[File]:
    """The scene's downloadable assets (the quicklook is served apart, to everyone)."""
    found = []
    quicklook = quicklook_key(scene.assets)
    for key, asset in sorted((scene.assets or {}).items()):
        if key == quicklook or not isinstance(asset, dict):
            continue
        href = asset.get("href")
        if not isinstance(href, str):
            continue
        try:
            path = clean_key(href)
        except StorageError:
            continue  # a remote href: not a file of this store
        size = asset.get("file:size")
        found.append(
            File(
                scene=scene,
                key=key,
                path=path,
                media_type=str(asset.get("type") or "application/octet-stream"),
                title=str(asset.get("title") or key),
                size=size if isinstance(size, int) else None,
                checksum=asset.get("file:checksum"),
            )
        )
    return found


def file_of(scene_id: str, key: str) -> File:
    """The scene's file named `key`; NotFound when there is no such scene or file."""
    scene = db.session.get(Scene, scene_id)
    if scene is None:
        raise NotFound(_("There is no scene %(id)s in the catalogue.", id=scene_id[:200]))
    for candidate in files_of(scene):
        if candidate.key == key:
            return candidate
    raise NotFound(_("Scene %(id)s has no file named %(key)s.", id=scene.id, key=key[:100]))


def authorise(user: Viewer, file: File, visit: Visit) -> None:
    """Forbidden (with why) unless the person may download the file now."""
    collection = file.scene.collection
    if not may_download(user, collection):
        raise Forbidden(refusal(user, collection))
    if collection.id == "dsm" and (why := _dsm_refusal(user, file.scene)):  # DSM download rule
        raise Forbidden(why)
    if not licence_accepted(user, collection, visit):
        raise LicenceRequired(collection)


def _dsm_refusal(user: Viewer, scene: Scene) -> str | None:
    from dinamis.dsm.service import product_refusal

    return product_refusal(user, scene)


def file_states(user: Viewer, scene: Scene, visit: Visit) -> list[tuple[File, str, str | None]]:
    """The scene's files as this person sees them: "ready" to download, "licence" to
    accept first, or "refused" with why."""
    states: list[tuple[File, str, str | None]] = []
    for file in files_of(scene):
        try:
            authorise(user, file, visit)
            states.append((file, "ready", None))
        except LicenceRequired as exc:
            states.append((file, "licence", exc.message))
        except Forbidden as exc:
            states.append((file, "refused", exc.message))
    return states


def log(user: Viewer, file: File, sent: int, *, ranged: bool, via: str = DownloadVia.WEB) -> None:
    """Write the download log's line for bytes sent of a file."""
    member = user if is_signed_in(user) else None
    db.session.add(
        Download(
            user_id=member.id if member else None,
            entity_id=member.entity_id if member else None,
            scene_id=file.scene.id,
            collection_id=file.scene.collection_id,
            asset=file.key,
            bytes=sent,
            ranged=ranged,
            via=via,
        )
    )
    db.session.flush()


def quicklook_path(scene_id: str) -> str:
    """The store key of the scene's quicklook (public, like footprints and metadata)."""
    scene = db.session.get(Scene, scene_id)
    asset = (scene.assets or {}).get(scene.quicklook) if scene and scene.quicklook else None
    href = asset.get("href") if isinstance(asset, dict) else None
    if not isinstance(href, str):
        raise NotFound(_("This scene has no quicklook."))
    try:
        return clean_key(href)
    except StorageError:
        raise NotFound(_("This scene has no quicklook.")) from None


def footprints(scenes: list[Scene]) -> dict[str, Any]:
    """The scenes' footprints as a GeoJSON FeatureCollection (the maps of the portal)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": s.id,
                "geometry": mapping(to_shape(s.footprint)),
                "properties": {},
            }
            for s in scenes
        ],
    }


# --- signed links -------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT)


def sign(user: Viewer, file: File, visit: Visit) -> str:
    """A link token for this file and this person (checked again when used)."""
    authorise(user, file, visit)
    owner = user.id if is_signed_in(user) else None
    payload: dict[str, Any] = {"s": file.scene.id, "a": file.key, "u": owner}
    if owner is None:  # an anonymous visitor's acceptance travels with the link
        payload["l"] = _licence_key(file.scene.collection)
    return _serializer().dumps(payload)


def read_link(token: str, visit: Visit) -> tuple[File, Viewer]:
    """The file and the person a link was made for (None: an anonymous visitor);
    refused when expired, forged or revoked."""
    from dinamis.accounts.models import User

    ttl = config.current().download_link_ttl
    try:
        payload = _serializer().loads(token, max_age=ttl)
    except SignatureExpired:
        raise LinkExpired(
            _("This download link has expired; make new links from your basket.")
        ) from None
    except BadSignature:
        raise NotFound(_("This download link is not valid.")) from None
    file = file_of(str(payload.get("s")), str(payload.get("a")))
    collection = file.scene.collection
    if payload.get("u") is None:
        if collection.access != Access.OPEN or payload.get("l") != _licence_key(collection):
            raise Forbidden(_("This download link is not valid any more."))
        return file, None
    user = db.session.get(User, payload["u"])
    if user is None or not may_download(user, collection):
        raise Forbidden(_("This download link is not valid any more."))
    if not licence_accepted(user, collection, visit):
        raise LicenceRequired(collection)
    return file, user


# --- the basket: a member's is kept with the account, a visitor's in the visit ------


def basket_ids(user: Viewer, visit: Visit) -> list[str]:
    """The scene ids in the person's basket, oldest first."""
    if is_signed_in(user):
        return list(
            db.session.scalars(
                select(BasketItem.scene_id)
                .where(BasketItem.user_id == user.id)
                .order_by(BasketItem.id)
            )
        )
    return list(visit.basket)


def basket_add(user: Viewer, visit: Visit, scene_ids: list[str]) -> list[str]:
    """Put scenes in the basket (one, or a page of results); return those that were new.

    Unknown scenes are refused; the basket holds at most `basket_max_scenes`.
    """
    wanted = list(dict.fromkeys(i for i in scene_ids if i))
    if not wanted:
        raise ServiceError(_("Choose the scenes to put in the basket."))
    known = set(db.session.scalars(select(Scene.id).where(Scene.id.in_(wanted))))
    for scene_id in wanted:
        if scene_id not in known:
            raise NotFound(_("There is no scene %(id)s in the catalogue.", id=scene_id[:200]))
    ids = basket_ids(user, visit)
    new = [i for i in wanted if i not in ids]
    limit = config.current().basket_max_scenes
    if len(ids) + len(new) > limit:
        raise ServiceError(
            _("The basket holds at most %(n)d scenes.", n=limit)
            + " "
            + _("It has room for %(room)d more.", room=max(limit - len(ids), 0))
        )
    if not new:
        return []
    if is_signed_in(user):
        db.session.execute(
            insert(BasketItem)
            .values([{"user_id": user.id, "scene_id": i} for i in new])
            .on_conflict_do_nothing(constraint="uq_basket_items_scene")
        )
        db.session.flush()
    else:
        visit.basket = [*ids, *new]
    return new


def basket_remove(user: Viewer, visit: Visit, scene_id: str) -> None:
    """Take a scene out of the basket (nothing happens when it is not in it)."""
    if is_signed_in(user):
        db.session.execute(
            delete(BasketItem).where(BasketItem.user_id == user.id, BasketItem.scene_id == scene_id)
        )
    else:
        visit.basket = [i for i in visit.basket if i != scene_id]


def basket_clear(user: Viewer, visit: Visit) -> None:
    """Empty the basket."""
    if is_signed_in(user):
        db.session.execute(delete(BasketItem).where(BasketItem.user_id == user.id))
    else:
        visit.basket = []


def keep_visit_basket(user: Viewer, picked: list[str]) -> None:
    """At sign-in: what the visitor put in their basket (`picked`) joins the account's,
    as far as the basket's limit allows."""
    if not picked or not is_signed_in(user):
        return
    ids = basket_ids(user, Visit())
    room = config.current().basket_max_scenes - len(ids)
    new = [i for i in dict.fromkeys(picked) if i not in ids][: max(room, 0)]
    known = set(db.session.scalars(select(Scene.id).where(Scene.id.in_(new)))) if new else set()
    new = [i for i in new if i in known]
    if new:
        db.session.execute(
            insert(BasketItem)
            .values([{"user_id": user.id, "scene_id": i} for i in new])
            .on_conflict_do_nothing(constraint="uq_basket_items_scene")
        )
        db.session.flush()


def basket_scenes(user: Viewer, visit: Visit) -> list[Scene]:
    """The scenes in the basket that are still in the catalogue, oldest first."""
    ids = basket_ids(user, visit)
    if not ids:
        return []
    found = {s.id: s for s in db.session.scalars(select(Scene).where(Scene.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


@dataclass(frozen=True)
class BasketLine:
    file: File
    token: str | None  # None: not downloadable by this person (see `reason`)
    reason: str | None
    licence: Collection | None  # the licence to accept first, when that is the reason


def basket_lines(user: Viewer, visit: Visit) -> list[BasketLine]:
    """Each file of the basket's scenes, with a signed link or why there is none."""
    lines = []
    for scene in basket_scenes(user, visit):
        for file in files_of(scene):
            try:
                lines.append(BasketLine(file, sign(user, file, visit), None, None))
            except LicenceRequired as exc:
                lines.append(BasketLine(file, None, exc.message, exc.collection))
            except Forbidden as exc:
                lines.append(BasketLine(file, None, exc.message, None))
    return lines
