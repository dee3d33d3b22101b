"""Who may download which scene file, licences accepted, the download log, signed links.

Rules (DOMAIN.md, "Profiles and rights"):
- an open collection is for everyone, once its licence is accepted (in the
  session for an anonymous visitor, recorded for a member);
- a members collection is for signed-in members of an active entity, and
  staff;
- a profiles collection is for members whose entity's profile it lists, and
  staff; members and profiles collections also need their licence version
  accepted once, recorded.
The same functions answer the portal, the STAC API and the basket's links,
and a signed link is checked again when it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, session
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

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
from dinamis.catalogue.storage import StorageError, clean_key, storage
from dinamis.core.errors import Forbidden, NotFound, ServiceError
from dinamis.extensions import db

SESSION_LICENCES = "licences"
SESSION_BASKET = "basket"
MAX_ADD = 1000  # scene ids read from one "add to the basket" request
LINK_SALT = "dinamis.download-link"
HEX = frozenset("0123456789abcdef")


class LicenceRequired(Forbidden):
    """The file is allowed, but its licence has not been accepted yet."""

    code = "licence_required"

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


class LinkExpired(ServiceError):
    status = 410
    code = "gone"


def _signed_in(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and bool(
        getattr(user, "is_active", False)
    )


def may_download(user: Any, collection: Collection) -> bool:
    """The collection's access rule, before any licence."""
    if collection.access == Access.OPEN:
        return True
    if not _signed_in(user):
        return False
    if user.is_staff:
        return True
    entity = user.entity
    if entity is None or not entity.is_active:
        return False
    if collection.access == Access.MEMBERS:
        return True
    return entity.profile.code in (collection.profiles or [])


def refusal(user: Any, collection: Collection) -> str:
    """Why `may_download` says no, in words for the person."""
    if not _signed_in(user):
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


def _licence_key(collection: Collection) -> str:
    return f"{collection.licence_code}:{collection.licence_version}"


def licence_accepted(user: Any, collection: Collection) -> bool:
    if _signed_in(user):
        found = db.session.scalar(
            select(LicenceAcceptance.id).where(
                LicenceAcceptance.user_id == user.id,
                LicenceAcceptance.licence_code == collection.licence_code,
                LicenceAcceptance.licence_version == collection.licence_version,
            )
        )
        if found is not None:
            return True
    return _licence_key(collection) in session.get(SESSION_LICENCES, [])


def accept_licence(user: Any, collection: Collection) -> None:
    """Record the acceptance: once per member and licence version; in the session otherwise."""
    if not may_download(user, collection):
        raise Forbidden(refusal(user, collection))
    if _signed_in(user):
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
        accepted = [k for k in session.get(SESSION_LICENCES, []) if k != _licence_key(collection)]
        session[SESSION_LICENCES] = [*accepted, _licence_key(collection)]


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
    scene = db.session.get(Scene, scene_id)
    if scene is None:
        raise NotFound(_("There is no scene %(id)s in the catalogue.", id=scene_id[:200]))
    for candidate in files_of(scene):
        if candidate.key == key:
            return candidate
    raise NotFound(_("Scene %(id)s has no file named %(key)s.", id=scene.id, key=key[:100]))


def authorise(user: Any, file: File) -> None:
    """Forbidden (with why) unless the user may download the file now."""
    collection = file.scene.collection
    if not may_download(user, collection):
        raise Forbidden(refusal(user, collection))
    if not licence_accepted(user, collection):
        raise LicenceRequired(collection)


def file_states(user: Any, scene: Scene) -> list[tuple[File, str, str | None]]:
    """The scene's files as this person sees them: "ready" to download, "licence" to
    accept first, or "refused" with why."""
    states: list[tuple[File, str, str | None]] = []
    for file in files_of(scene):
        try:
            authorise(user, file)
            states.append((file, "ready", None))
        except LicenceRequired as exc:
            states.append((file, "licence", exc.message))
        except Forbidden as exc:
            states.append((file, "refused", exc.message))
    return states


def log(user: Any, file: File, sent: int, *, ranged: bool, via: str = DownloadVia.WEB) -> None:
    signed_in = _signed_in(user)
    db.session.add(
        Download(
            user_id=user.id if signed_in else None,
            entity_id=user.entity_id if signed_in else None,
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
    scene = db.session.get(Scene, scene_id)
    if scene is None or not scene.quicklook:
        raise NotFound(_("This scene has no quicklook."))
    try:
        return clean_key(scene.quicklook)
    except StorageError:
        raise NotFound(_("This scene has no quicklook.")) from None


def in_store(path: str) -> bool:
    return storage().exists(path)


# --- signed links -------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT)


def sign(user: Any, file: File) -> str:
    """A link token for this file and this person (checked again when used)."""
    authorise(user, file)
    owner = user.id if _signed_in(user) else None
    payload: dict[str, Any] = {"s": file.scene.id, "a": file.key, "u": owner}
    if owner is None:  # an anonymous visitor's acceptance travels with the link
        payload["l"] = _licence_key(file.scene.collection)
    return _serializer().dumps(payload)


def read_link(token: str) -> tuple[File, Any]:
    """The file and the person a link was made for; refused when expired, forged or revoked."""
    from dinamis.accounts.models import User

    ttl = current_app.config["DINAMIS_SETTINGS"].download_link_ttl
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
    if not licence_accepted(user, collection):
        raise LicenceRequired(collection)
    return file, user


# --- the basket: a member's is kept with the account, a visitor's in the session ------


def basket_ids(user: Any) -> list[str]:
    """The scene ids in the person's basket, oldest first."""
    if _signed_in(user):
        return list(
            db.session.scalars(
                select(BasketItem.scene_id)
                .where(BasketItem.user_id == user.id)
                .order_by(BasketItem.id)
            )
        )
    return visit_basket()


def basket_add(user: Any, scene_ids: list[str]) -> list[str]:
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
    ids = basket_ids(user)
    new = [i for i in wanted if i not in ids]
    limit = current_app.config["DINAMIS_SETTINGS"].basket_max_scenes
    if len(ids) + len(new) > limit:
        raise ServiceError(
            _("The basket holds at most %(n)d scenes.", n=limit)
            + " "
            + _("It has room for %(room)d more.", room=max(limit - len(ids), 0))
        )
    if not new:
        return []
    if _signed_in(user):
        db.session.execute(
            insert(BasketItem)
            .values([{"user_id": user.id, "scene_id": i} for i in new])
            .on_conflict_do_nothing(constraint="uq_basket_items_scene")
        )
        db.session.flush()
    else:
        session[SESSION_BASKET] = [*ids, *new]
    return new


def basket_remove(user: Any, scene_id: str) -> None:
    if _signed_in(user):
        db.session.execute(
            delete(BasketItem).where(BasketItem.user_id == user.id, BasketItem.scene_id == scene_id)
        )
    else:
        session[SESSION_BASKET] = [i for i in basket_ids(user) if i != scene_id]


def basket_clear(user: Any) -> None:
    if _signed_in(user):
        db.session.execute(delete(BasketItem).where(BasketItem.user_id == user.id))
    else:
        session.pop(SESSION_BASKET, None)


def visit_basket() -> list[str]:
    """The basket of this browser's visit (before signing in)."""
    value = session.get(SESSION_BASKET, [])
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def keep_visit_basket(user: Any, picked: list[str]) -> None:
    """At sign-in: what the visitor put in their basket joins the account's, as far as
    the basket's limit allows."""
    if not picked or not _signed_in(user):
        return
    ids = basket_ids(user)
    room = current_app.config["DINAMIS_SETTINGS"].basket_max_scenes - len(ids)
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


def basket_scenes(user: Any) -> list[Scene]:
    ids = basket_ids(user)
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


def basket_lines(user: Any) -> list[BasketLine]:
    lines = []
    for scene in basket_scenes(user):
        for file in files_of(scene):
            try:
                lines.append(BasketLine(file, sign(user, file), None, None))
            except LicenceRequired as exc:
                lines.append(BasketLine(file, None, exc.message, exc.collection))
            except Forbidden as exc:
                lines.append(BasketLine(file, None, exc.message, None))
    return lines
