"""The life of a surface-model request: the rules, the quota, the states, the delivery.

Every transition goes through `_move`, which refuses any step not in
TRANSITIONS and records a DsmEvent; the requester is told of each step (e-mail,
webhooks) after its commit, by `tell_steps`, as an order's. The quota ledger
follows as for orders, on the `dsm` family: the charged km² (the AOI's
geodesic area) are reserved at submission (the allowance first, the rest
co-funded once the Referent accepts the quote), consumed on delivery, and
released when the request fails or is cancelled.

The computation itself runs in a worker (dsm/tasks.py): `start`, `progress`,
`deliver`, `fail` and `retry` are the steps it takes, each in a transaction
of its own; `recover_stalled` takes back a computation whose worker died.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import func, select, text
from sqlalchemy.orm import joinedload

from dinamis import config
from dinamis.accounts.models import User
from dinamis.accounts.service import mail_user
from dinamis.catalogue.models import Access, Collection, Scene
from dinamis.catalogue.permissions import Viewer
from dinamis.catalogue.service import stereo_group
from dinamis.catalogue.storage import StorageError, clean_key
from dinamis.config import DsmSettings
from dinamis.core import dates, mail
from dinamis.core.db import utcnow
from dinamis.core.errors import Conflict, Forbidden, NotFound, ServiceError
from dinamis.core.formats import day as format_day
from dinamis.core.formats import number as format_number
from dinamis.core.geo import geodesic_km2, polygons, size_error
from dinamis.core.mail import queue_mail
from dinamis.core.web import external_url
from dinamis.dsm.models import DSM_ENDED, DSM_STATUS_WORDS, DsmEvent, DsmRequest, DsmStatus, Failure
from dinamis.dsm.permissions import (
    can_cancel_dsm_request,
    can_decide_dsm_quote,
    can_request_dsm,
    may_download_product,
)
from dinamis.extensions import db
from dinamis.membership.members import managers
from dinamis.quota import service as quota
from dinamis.quota.models import Family
from dinamis.quota.pricing import price, quote_expired, quote_valid_until
from dinamis.webhooks import events as webhook_events

COLLECTION = "dsm"
TASK = "compute_dsm"
PRICE_SENSOR = PRICE_KIND = "dsm"  # the price grid's row for surface models
# The sensors' ground sample distance, for a scene that does not state its own.
GSD = {"pleiades": Decimal("0.5"), "pleiades-neo": Decimal("0.3"), "spot": Decimal("1.5")}
# Relative tolerance when checking that an AOI lies within the overlap (float noise).
INSIDE_TOLERANCE = 1e-6
# A surface model's area of interest too small, too large (`core.geo.size_error`).
SIZE = (
    _l("The area of interest covers %(area)s km²; a surface model needs at least %(min)s km²."),
    _l("The area of interest covers %(area)s km²; a surface model covers at most %(max)s km²."),
)

S = DsmStatus
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.AWAITING_QUOTE: (S.QUEUED, S.CANCELLED),
    S.QUEUED: (S.RUNNING, S.FAILED, S.CANCELLED),
    S.RUNNING: (S.DELIVERED, S.FAILED, S.CANCELLED, S.QUEUED),
}


def settings() -> DsmSettings:
    """The surface models' rules (areas, resolutions, engine limits, attempts)."""
    return config.current().dsm


# --- the rules of a request -----------------------------------------------------------------


@dataclass(frozen=True)
class DsmAsk:
    """What a member asks for, already parsed. No AOI: the group's whole overlap."""

    scene_id: str
    aoi: MultiPolygon | None
    resolution_m: Decimal | None
    project_title: str
    project_description: str
    theme: str = "other"


@dataclass(frozen=True)
class Checked:
    scene: Scene
    group: list[Scene]
    aoi: MultiPolygon
    km2: Decimal
    resolution_m: Decimal


def overlap(group: list[Scene]) -> MultiPolygon:
    """The footprint the group's scenes have in common (where a DSM can be computed)."""
    common = to_shape(group[0].footprint)
    for scene in group[1:]:
        common = common.intersection(to_shape(scene.footprint))
    return polygons(common)


def gsd_of(scene: Scene) -> Decimal:
    if scene.gsd is not None and scene.gsd > 0:
        return Decimal(scene.gsd)
    return GSD.get(scene.collection.sensor_family, Decimal("1"))


def resolutions(scene: Scene) -> list[Decimal]:
    """The output resolutions offered for this scene (m): multiples of its GSD."""
    gsd = gsd_of(scene)
    return [(gsd * f).quantize(Decimal("0.001")).normalize() for f in settings().factors()]


def default_resolution(scene: Scene) -> Decimal:
    return (gsd_of(scene) * settings().default_factor).quantize(Decimal("0.001")).normalize()


def find_scene(scene_id: str) -> Scene:
    scene = db.session.get(Scene, scene_id.strip()[:200]) if scene_id.strip() else None
    if scene is None:
        message = _("There is no scene %(id)s in the catalogue.", id=scene_id[:200])
        raise ServiceError(message, fields={"scene_id": message})
    return scene


def source_refusal(actor: User, scene: Scene) -> str | None:
    """Why a DSM cannot be asked from this scene (None when it can)."""
    from dinamis.catalogue.permissions import may_download

    if scene.collection_id == COLLECTION:
        return _("Scene %(id)s is itself a surface model.", id=scene.id)
    group = stereo_group(scene)
    if not scene.stereo_group or len(group) < 2:
        return _(
            "Scene %(id)s is not part of a stereo pair or tri-stereo group: a surface model "
            "needs two or three views of the same ground.",
            id=scene.id,
        )
    for member in group:
        if not may_download(actor, member.collection):
            return _(
                "Your organisation's profile may not download the images of %(c)s, so it "
                "cannot ask for a surface model from them.",
                c=member.collection.local_title,
            )
    return None


def check(actor: User, ask: DsmAsk) -> Checked:
    """Refuse a request that breaks a rule, every field's problem at once."""
    rules = settings()
    scene = find_scene(ask.scene_id)
    refusal = source_refusal(actor, scene)
    if refusal:
        raise ServiceError(refusal, fields={"scene_id": refusal})
    group = stereo_group(scene)
    common = overlap(group)
    errors: dict[str, str] = {}
    aoi = common if ask.aoi is None else ask.aoi
    area = geodesic_km2(aoi) if not aoi.is_empty else Decimal("0")
    if ask.aoi is not None:
        outside = ask.aoi.difference(common)
        if not outside.is_empty and outside.area > INSIDE_TOLERANCE * max(ask.aoi.area, 1e-12):
            errors["aoi"] = _(
                "The area of interest goes beyond the ground the group's %(n)d images have in "
                "common: draw it inside the overlap shown on the map, or take the whole overlap.",
                n=len(group),
            )
    if "aoi" not in errors and (wrong := size_error(area, rules.min_km2, rules.max_km2, SIZE)):
        errors["aoi"] = wrong
    offered = resolutions(scene)
    resolution = default_resolution(scene) if ask.resolution_m is None else ask.resolution_m
    if not resolution.is_finite() or resolution.normalize() not in offered:
        errors["resolution_m"] = _(
            "Choose one of the offered resolutions: %(values)s m.",
            values=", ".join(format_number(r) for r in offered),
        )
    for name in ("project_title", "project_description"):
        if not str(getattr(ask, name) or "").strip():
            errors[name] = _("Required.")
    if errors:
        first = errors.get("aoi") or next(iter(errors.values()))
        raise ServiceError(first, fields=errors)
    return Checked(scene, group, aoi, area, resolution.normalize())


def ensure_can_request(actor: User) -> None:
    if not can_request_dsm(actor):
        raise Forbidden(
            _("Your entity's membership is not active: you cannot order until it is renewed.")
            if actor.entity is not None and not actor.is_staff
            else _("Only members of an entity can ask for surface models.")
        )


def submit(actor: User, ask: DsmAsk) -> DsmRequest:
    """Create a request; reserve its km² on the `dsm` family (allowance first).

    Within the allowance it is queued for a worker at once; beyond it, it waits
    for the Referent to accept the co-funding quote.
    """
    ensure_can_request(actor)
    checked = check(actor, ask)
    charged = quota.km2(checked.km2)
    request = DsmRequest(
        status=S.QUEUED,
        entity_id=actor.entity_id,
        requester_id=actor.id,
        scene_id=checked.scene.id,
        stereo_group=checked.scene.stereo_group,
        source_ids=[s.id for s in checked.group],
        aoi=from_shape(checked.aoi, srid=4326),
        aoi_km2=checked.km2,
        charged_km2=charged,
        family=Family.DSM,
        period=quota.period_for(dates.today()),
        resolution_m=checked.resolution_m,
        project_title=ask.project_title.strip()[:200],
        project_description=ask.project_description.strip(),
        theme=(ask.theme or "other").strip()[:50],
        attempts=0,
        progress=0,
        events=[],
    )
    assert actor.entity is not None  # ensure_can_request
    request.entity, request.requester = actor.entity, actor
    product_collection()  # in STAC from the first request, before the first delivery
    db.session.add(request)
    db.session.flush()
    split = quota.reserve(
        request.entity, request.family, request.period, charged, request.reference
    )
    request.free_km2, request.cofunded_km2 = split.free, split.cofunded
    if split.cofunded > 0:
        _quote(request)
        request.status = S.AWAITING_QUOTE
        _record(actor, request, None, S.AWAITING_QUOTE, None)
        for referent in managers(request.entity_id):
            queue_mail(
                referent.email,
                "dsm_quote",
                language=referent.language,
                request=request,
                user=referent,
                link=external_url("dsm.show", request_id=request.id),
            )
    else:
        _record(actor, request, None, S.QUEUED, None)
        _enqueue(request)
    return request


def _quote(request: DsmRequest) -> None:
    rules = config.current().orders  # tax, validity
    priced = price(
        request.entity.profile_id, PRICE_SENSOR, PRICE_KIND, request.cofunded_km2, rules.tax_rate
    )
    for name, value in priced.quoted().items():
        setattr(request, name, value)
    request.quote_valid_until = quote_valid_until(dates.today(), rules.quote_validity_days)


def _enqueue(request: DsmRequest) -> None:
    """Queue the computation in this transaction (it exists only if this commits)."""
    import dinamis.dsm.tasks  # noqa: F401  (registers the task in this process)
    from dinamis.jobs.queue import defer

    request.job_id = defer(TASK, request_id=request.id)
    request.progress = 0
    request.progress_message = None


def _record(
    actor: User | None, request: DsmRequest, source: str | None, target: str, note: str | None
) -> None:
    """Write the step with the request in its new state; its requester is told of it after
    the commit (tell_steps), by this request or job when it sends its own mail."""
    event = DsmEvent(
        request=request,
        from_status=source,
        to_status=target,
        actor_id=actor.id if actor is not None else None,
        note=note,
    )
    db.session.add(event)
    db.session.flush()
    mail.told_after_commit(tell_steps, event)


def _move(actor: User | None, request: DsmRequest, target: str, note: str | None) -> None:
    if target not in TRANSITIONS.get(request.status, ()):
        raise Conflict(
            _(
                "A surface-model request that is %(current)s cannot become %(target)s.",
                current=request.status_words,
                target=str(DSM_STATUS_WORDS[target]),
            )
        )
    old = request.status
    request.status = target
    if target in DSM_ENDED:
        request.finished_at = utcnow()
    _record(actor, request, old, target, note)


# A step its requester has not been told of yet (the partial index's condition).
_NOT_TOLD = DsmEvent.told_at.is_(None)
# Each step with its request and requester (what its e-mail needs), the steps alone locked.
_UNTOLD = (
    select(DsmEvent)
    .where(_NOT_TOLD)
    .order_by(DsmEvent.id)
    .options(joinedload(DsmEvent.request).joinedload(DsmRequest.requester))
    .with_for_update(of=DsmEvent, skip_locked=True)
)


@mail.producer(untold=select(DsmEvent.id).where(_NOT_TOLD).order_by(DsmEvent.id))
def tell_steps(ids: list[int] | None = None, batch: int = 100) -> int:
    """Tell the requesters of the surface-model steps not told yet (these `ids`, or all of
    them, oldest first, `batch` at a time): their status e-mail and their webhooks' events,
    each once, as the step was taken (`core.mail.tell_each`). Commits; returns how many.

    Run by the outbox worker before each round of delivery, and after its commit by a
    request or job that sends its own mail (`deliver_in_request`).
    """
    untold = _UNTOLD if ids is None else _UNTOLD.where(DsmEvent.id.in_(ids))
    return mail.tell_each(untold, _tell, batch, again=ids is None)


def _tell(event: DsmEvent) -> None:
    """A step's news: none when the computation starts or is tried again (no news for
    people); the submission's step on the webhooks only (its page says the rest)."""
    request = event.request
    retried = event.from_status == S.RUNNING and event.to_status == S.QUEUED
    if event.to_status == S.RUNNING or retried:
        return
    if event.from_status is not None:
        mail_user(
            request.requester,
            "dsm_status",
            request=request,
            event=event,
            note=lambda: event_note(event),
            link=external_url("dsm.show", request_id=request.id),
        )
    taken = webhook_events.Taken(event.created_at, failure=failure_of(event))
    webhook_events.order_changed(db.session, request, event.from_status, event.to_status, taken)


def lock(request: DsmRequest) -> None:
    """Lock the request's row, then read it again: the first step of every change."""
    db.session.execute(select(DsmRequest.id).where(DsmRequest.id == request.id).with_for_update())
    db.session.refresh(request)


def _locked_in(request_id: int, *states: str) -> DsmRequest | None:
    """The request, locked and read again, when it is in one of `states`; None when it
    is gone or has moved on (cancelled or ended meanwhile)."""
    request = db.session.get(DsmRequest, request_id)
    if request is None:
        return None
    lock(request)
    return request if request.status in states else None


def get(request_id: int) -> DsmRequest:
    request = db.session.get(DsmRequest, request_id) if 0 < request_id < 2**31 else None
    if request is None:
        raise NotFound(_("There is no surface-model request %(id)s.", id=request_id))
    return request


def decide_quote(
    actor: User, request: DsmRequest, accept: bool, today: dt.date | None = None
) -> None:
    """The Referent accepts the co-funding quote (queued for a worker) or declines it.

    An expired quote is refused either way, and expires (as an order's does).
    """
    if not can_decide_dsm_quote(actor, request):
        raise Forbidden(_("Only the entity's Referent or a deputy decides on a quote."))
    lock(request)
    if request.status != S.AWAITING_QUOTE:
        raise Conflict(_("This request is not waiting for a decision on its quote."))
    if quote_expired(request.quote_valid_until, today or dates.today()):
        assert request.quote_valid_until is not None  # quote_expired
        _expire_quote(request)
        raise Conflict(
            _(
                "This quote expired on %(d)s; the request was cancelled and its km² released.",
                d=format_day(request.quote_valid_until),
            )
        )
    if accept:
        quota.cofund(
            request.entity,
            request.family,
            request.period,
            request.cofunded_km2,
            request.reference,
        )
        request.quote_decided_by_id = actor.id
        _move(actor, request, S.QUEUED, "quote_accepted")
        _enqueue(request)
    else:
        request.quote_decided_by_id = actor.id
        _move(actor, request, S.CANCELLED, "quote_declined")
        quota.release(request.entity, request.family, request.period, request.reference, "declined")


def _expire_quote(request: DsmRequest) -> None:
    _move(None, request, S.CANCELLED, "quote_expired")
    quota.release(
        request.entity, request.family, request.period, request.reference, "quote-expired"
    )


def expire_quotes(today: dt.date | None = None) -> list[DsmRequest]:
    """Requests whose co-funding quote expired undecided: cancelled, their km² released, the
    requester told (the nightly `expire_orders` task, with the orders' quotes)."""
    today = today or dates.today()
    expired = [
        request
        for request in db.session.scalars(
            select(DsmRequest)
            .where(
                DsmRequest.status == S.AWAITING_QUOTE,
                DsmRequest.quote_valid_until.is_not(None),
            )
            .order_by(DsmRequest.id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        if quote_expired(request.quote_valid_until, today)
    ]
    for request in expired:
        _expire_quote(request)
    return expired


def quote_state(request: DsmRequest, today: dt.date | None = None) -> str | None:
    """The co-funding quote's state as orders' quotes have it: pending, accepted, declined or
    expired (an undecided quote past its day is expired even before the nightly task)."""
    if request.eur_per_km2 is None:
        return None
    if request.status == S.AWAITING_QUOTE:
        expired = quote_expired(request.quote_valid_until, today or dates.today())
        return "expired" if expired else "pending"
    decided = {"quote_accepted": "accepted", "quote_declined": "declined"}
    for event in request.events:
        if event.note == "quote_expired":
            return "expired"
        if event.note in decided:
            return decided[event.note]
    return "declined"  # cancelled by its requester while awaiting the decision


def _stop_job(request: DsmRequest) -> None:
    """Cancel the queued job, or ask the running one to abort (its worker then stops CARS)."""
    if request.job_id is None:
        return
    db.session.execute(
        text("SELECT procrastinate_cancel_job_v1(:id, true, false)"), {"id": request.job_id}
    )


def cancel(actor: User, request: DsmRequest, reason: str | None = None) -> None:
    """Cancel a request not yet delivered; a running computation is aborted; km² released."""
    if not can_cancel_dsm_request(actor, request):
        raise Forbidden(_("You may not cancel this request."))
    lock(request)
    if request.status in DSM_ENDED:
        raise Conflict(_("This request is already %(status)s.", status=request.status_words))
    _stop_job(request)
    _move(actor, request, S.CANCELLED, (reason or "").strip()[:1000] or None)
    quota.release(request.entity, request.family, request.period, request.reference, "cancelled")


# --- what people read -----------------------------------------------------------------------


def failure_text(code: str | None) -> str:
    """Why the computation failed, in the reader's language."""
    texts: dict[str, str] = {
        Failure.ENGINE: _(
            "The photogrammetry could not compute a usable surface from these images over "
            "this area (too little texture, clouds or changes between the views). Nothing "
            "was charged; the Dinamis team has the details."
        ),
        Failure.TIMEOUT: _(
            "The computation took longer than the time allowed and was stopped. Nothing was "
            "charged; try a smaller area or a coarser resolution."
        ),
        Failure.TRANSIENT: _(
            "The computation failed several times for a temporary reason. Nothing was "
            "charged; please ask again later."
        ),
        Failure.WORKER_LOST: _(
            "The machine computing it stopped several times. Nothing was charged; please ask "
            "again later."
        ),
        Failure.FILES: _(
            "The images of this stereo group are not available for processing. Nothing was "
            "charged; the Dinamis team has been told."
        ),
    }
    return texts.get(code or "", _("The computation failed. Nothing was charged."))


def failure_of(event: DsmEvent) -> str | None:
    """The failure code a step records (`fail`: "failure:<code>"), if any."""
    if event.note and event.note.startswith("failure:"):
        return event.note.removeprefix("failure:")
    return None


def event_note(event: DsmEvent) -> str | None:
    """An event's note in the reader's words (codes), or as staff or the requester wrote it."""
    words = {
        "quote_accepted": _("Quote accepted."),
        "quote_declined": _("Quote declined."),
        "quote_expired": _("The quote expired."),
        "retry_transient": _("A temporary failure: computing it again."),
        "retry_worker_lost": _("The worker stopped: computing it again."),
        "delivered": _("The surface model is in the catalogue."),
    }
    if event.note in words:
        return words[event.note]
    if (code := failure_of(event)) is not None:
        return failure_text(code)
    return event.note


STAFF_QUEUE = (S.QUEUED, S.RUNNING, S.FAILED)


def visible_requests(actor: User, status: str | None = None, limit: int = 500) -> list[DsmRequest]:
    """My requests; the entity's for its Referent and deputies; all for staff.

    `status` "queue" is what staff watch: queued, running and failed requests.
    """
    query = select(DsmRequest).order_by(DsmRequest.id.desc())
    if not actor.is_staff:
        if actor.is_referent or actor.is_deputy:
            query = query.where(DsmRequest.entity_id == actor.entity_id)
        else:
            query = query.where(DsmRequest.requester_id == actor.id)
    if status == "queue":
        query = query.where(DsmRequest.status.in_(STAFF_QUEUE))
    elif status:
        query = query.where(DsmRequest.status == status)
    return list(db.session.scalars(query.limit(limit)))


def by_reference(references: list[str | None]) -> dict[str, DsmRequest]:
    """The requests named by ledger references ("dsm:12"), keyed by reference."""
    ids = {
        int(ref.removeprefix("dsm:"))
        for ref in references
        if ref and ref.startswith("dsm:") and ref.removeprefix("dsm:").isdigit()
    }
    ids = {i for i in ids if i < 2**31}
    if not ids:
        return {}
    query = select(DsmRequest).where(DsmRequest.id.in_(ids))
    return {r.reference: r for r in db.session.scalars(query)}


# --- the computation's steps (called by the worker's task) ----------------------------------


@dataclass(frozen=True)
class Started:
    """What the worker needs to run the engine, read in the transaction that started it."""

    request_id: int
    images: list[Path]
    aoi_wkt: str
    resolution_m: float
    attempt: int


def local_path(key: str) -> Path:
    """The file of a store key on this machine (the local store; see catalogue/storage.py)."""
    from dinamis import PROJECT_ROOT

    root = Path(config.current().storage_root)
    root = (root if root.is_absolute() else PROJECT_ROOT / root).resolve()
    path = (root / clean_key(key)).resolve()
    if root not in path.parents:
        raise StorageError(key)
    return path


def image_of(scene: Scene) -> Path | None:
    """The scene's image file (its `data` asset, else the first GeoTIFF asset), if stored."""
    assets = scene.assets or {}
    keys = ["data", *sorted(k for k in assets if k != "data")]
    for key in keys:
        asset = assets.get(key)
        if not isinstance(asset, dict) or "tif" not in str(asset.get("type", "")).lower():
            continue
        try:
            path = local_path(str(asset.get("href", "")))
        except StorageError:
            continue
        if path.is_file():
            return path
    return None


def start(request_id: int, job_id: int | None) -> Started | None:
    """The worker takes the request: running, attempt counted. None when there is nothing
    to do (cancelled meanwhile, or already ended)."""
    request = db.session.get(DsmRequest, request_id)
    if request is None:
        return None
    lock(request)
    if request.status == S.RUNNING:
        # Its worker died without a word and this is the retry: count it as a new attempt.
        request.status = S.QUEUED
    if request.status != S.QUEUED:
        return None
    if job_id is not None:
        request.job_id = job_id
    scenes = [db.session.get(Scene, sid) for sid in request.source_ids]
    images = [image_of(s) for s in scenes if s is not None]
    if len(images) != len(request.source_ids) or any(i is None for i in images):
        missing = [sid for sid, i in zip(request.source_ids, images, strict=False) if i is None]
        fail(request, Failure.FILES, f"no image file in the store for {missing or 'a scene'}")
        return None
    request.attempts += 1
    request.started_at = utcnow()
    request.progress = 0
    request.progress_message = None
    _move(None, request, S.RUNNING, None)
    return Started(
        request.id,
        [i for i in images if i is not None],
        to_shape(request.aoi).wkt,
        float(request.resolution_m),
        request.attempts,
    )


def progress(request_id: int, percent: int, message: str) -> bool:
    """Record the computation's progress; False when the request is no longer running
    (cancelled meanwhile: the worker stops)."""
    done = db.session.execute(
        text(
            "UPDATE dsm_requests SET progress = :p, progress_message = :m, updated_at = now() "
            "WHERE id = :id AND status = 'running' RETURNING id"
        ),
        {"p": max(0, min(100, int(percent))), "m": message[:200], "id": request_id},
    ).first()
    return done is not None


def still_running(request_id: int) -> bool:
    status = db.session.scalar(select(DsmRequest.status).where(DsmRequest.id == request_id))
    return status == S.RUNNING


def fail(request: DsmRequest, code: str, detail: str, log: str | None = None) -> None:
    """The computation failed for good: released, the requester told why, staff see the log."""
    request.failure_code = code
    _keep_failure(request, detail, log)
    _move(None, request, S.FAILED, f"failure:{code}")
    quota.release(request.entity, request.family, request.period, request.reference, "failed")


def _keep_failure(request: DsmRequest, detail: str, log: str | None) -> None:
    """What went wrong, for staff: the detail's start and the log's end."""
    request.failure_detail = detail[:20_000]
    if log:
        request.log = log[-200_000:]


def fail_by_id(request_id: int, code: str, detail: str, log: str | None = None) -> bool:
    request = _locked_in(request_id, S.RUNNING, S.QUEUED)
    if request is None:
        return False  # cancelled meanwhile
    fail(request, code, detail, log)
    return True


def retry(request_id: int, note: str, detail: str, log: str | None = None) -> bool:
    """A transient failure with attempts left: back in the queue (the job is retried)."""
    request = _locked_in(request_id, S.RUNNING)
    if request is None:
        return False
    _keep_failure(request, detail, log)
    _move(None, request, S.QUEUED, note)
    request.progress = 0
    return True


def attempts_left(request_id: int) -> bool:
    attempts = db.session.scalar(select(DsmRequest.attempts).where(DsmRequest.id == request_id))
    return (attempts or 0) < settings().max_attempts


@dataclass(frozen=True)
class Product:
    """What the engine made (EngineOutput), as the worker read it."""

    dsm_cog: Path
    hillshade_png: Path
    bbox: list[float]
    epsg: int
    vertical_reference: str
    nodata: float
    valid_fraction: float
    log: str
    cars_version: str


def product_collection() -> Collection:
    """The `dsm` collection of delivered surface models (made by the demo seed, else by the
    first request)."""
    collection = db.session.get(Collection, COLLECTION)
    if collection is None:
        collection = Collection(
            id=COLLECTION,
            title="Digital surface models (on demand)",
            title_fr="Modèles numériques de surface (à la demande)",
            description=(
                "Surface models computed by CNES's CARS from stereo and tri-stereo groups of "
                "the catalogue, at members' request."
            ),
            sensor_family=COLLECTION,
            licence_code="dinamis-pleiades",
            licence_version="1",
            access=Access.MEMBERS,
            profiles=[],
            orderable=False,
            extra={},
        )
        db.session.add(collection)
        db.session.flush()
    return collection


def item_id_of(request: DsmRequest) -> str:
    return f"DSM_{request.number}"


def _store_file(key: str, source: Path) -> tuple[int, str]:
    """Copy a product file into the store; its size and SHA-256 multihash."""
    target = local_path(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    with source.open("rb") as reader, partial.open("wb") as writer:
        for chunk in iter(lambda: reader.read(1 << 20), b""):
            digest.update(chunk)
            writer.write(chunk)
    partial.replace(target)
    return target.stat().st_size, "1220" + digest.hexdigest()


STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
]


def deliver(request_id: int, product: Product) -> DsmRequest | None:
    """The computed DSM into the catalogue (a STAC item of the `dsm` collection), the
    charged km² consumed, the requester told. None when cancelled meanwhile."""
    request = _locked_in(request_id, S.RUNNING)
    if request is None:
        return None
    collection = product_collection()
    item_id = item_id_of(request)
    folder = f"dsm/{item_id}"
    dsm_key, shade_key = f"{folder}/{item_id}_dsm.tif", f"{folder}/{item_id}_hillshade.png"
    dsm_size, dsm_sum = _store_file(dsm_key, product.dsm_cog)
    shade_size, shade_sum = _store_file(shade_key, product.hillshade_png)
    sources = [db.session.get(Scene, sid) for sid in request.source_ids]
    when = max((s.datetime for s in sources if s is not None), default=utcnow())
    properties: dict[str, Any] = {
        "title": f"DSM {request.number}",
        "processing:level": "L3",
        "processing:facility": "Dinamis",
        "processing:software": {"cars": product.cars_version},
        "processing:lineage": (
            f"Multi-view stereo (CARS {product.cars_version}) from "
            f"{', '.join(request.source_ids)} at {request.resolution_m.normalize()} m"
        ),
        "processing:datetime": utcnow().isoformat(),
        "proj:code": f"EPSG:{product.epsg}",
        "proj:bbox": [float(v) for v in product.bbox],
        "dinamis:derived_from": list(request.source_ids),
        "dinamis:dsm_request": request.number,
        "dinamis:vertical_reference": product.vertical_reference,
        "dinamis:valid_fraction": round(float(product.valid_fraction), 4),
    }
    assets = {
        "dsm": {
            "href": dsm_key,
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "title": "Digital surface model (COG)",
            "roles": ["data"],
            "file:size": dsm_size,
            "file:checksum": dsm_sum,
            "raster:bands": [
                {
                    "nodata": product.nodata,
                    "unit": "m",
                    "data_type": "float32",
                    "spatial_resolution": float(request.resolution_m),
                    "description": f"height above the {product.vertical_reference}",
                }
            ],
        },
        "hillshade": {
            "href": shade_key,
            "type": "image/png",
            "title": "Shaded relief",
            "roles": ["overview"],
            "file:size": shade_size,
            "file:checksum": shade_sum,
        },
    }
    item = db.session.get(Scene, item_id)
    if item is None:
        item = Scene(id=item_id)
        db.session.add(item)
    item.collection_id = collection.id
    item.datetime = when
    item.footprint = request.aoi
    item.gsd = request.resolution_m
    item.processing_level = "L3"
    item.quicklook = "hillshade"  # the key of its asset
    item.properties = properties
    item.assets = assets
    item.stac_extensions = STAC_EXTENSIONS
    db.session.flush()
    request.item_id = item_id
    request.progress = 100
    request.log = product.log[-200_000:] if product.log else request.log
    quota.settle(
        request.entity,
        request.family,
        request.period,
        request.reference,
        request.charged_km2,
        "delivered",
    )
    _move(None, request, S.DELIVERED, "delivered")
    return request


def derived_links(scene: Any, root: str) -> list[dict[str, Any]]:
    """The STAC `derived_from` links of a surface model to the scenes it was computed from
    (`scene` is a Scene or a search row; nothing for other items)."""
    if getattr(scene, "collection_id", None) != COLLECTION:
        return []
    sources = (scene.properties or {}).get("dinamis:derived_from")
    if not isinstance(sources, list):
        return []
    found = db.session.scalars(select(Scene).where(Scene.id.in_([str(s) for s in sources])))
    return [
        {
            "rel": "derived_from",
            "href": f"{root}/collections/{quote(s.collection_id, safe='')}/items/"
            + quote(s.id, safe=""),
            "type": "application/geo+json",
        }
        for s in found
    ]


def product_request(scene: Scene) -> DsmRequest | None:
    """The request whose delivered item this scene is (None for any other scene)."""
    if scene.collection_id != COLLECTION:
        return None
    return db.session.scalar(select(DsmRequest).where(DsmRequest.item_id == scene.id))


def product_refusal(user: Viewer, scene: Scene) -> str | None:
    """Why `user` may not download this delivered surface model (None: they may)."""
    request = product_request(scene)
    if request is None or may_download_product(user, request):
        return None
    if settings().download_rule == "entity":
        return _(
            "This surface model was computed for another organisation; only its members "
            "download it."
        )
    return _(
        "Your organisation's profile may not download the images this surface model was "
        "computed from."
    )


# --- a worker that died ---------------------------------------------------------------------

_STALLED = text(
    """
    SELECT j.id, j.args FROM procrastinate_jobs j
    WHERE j.status = 'doing' AND j.task_name = :task
      AND (j.worker_id IS NULL OR j.worker_id IN (
            SELECT w.id FROM procrastinate_workers w
            WHERE w.last_heartbeat < now() - make_interval(secs => :secs)))
    FOR UPDATE OF j SKIP LOCKED
    """
)


@dataclass(frozen=True)
class Recovered:
    request_id: int
    job_id: int
    retried: bool


def recover_stalled(stale_after_s: int | None = None) -> list[Recovered]:
    """Computations whose worker died (no heartbeat for `stale_after_s`): retried while
    attempts are left (back to queued, the job to todo), else failed and released. Also a
    request left running whose job has ended (a crash between the job's end and ours)."""
    secs = settings().stale_after_s if stale_after_s is None else stale_after_s
    found: list[Recovered] = []
    for job_id, args in db.session.execute(_STALLED, {"task": TASK, "secs": secs}).all():
        request_id = int((args or {}).get("request_id", 0))
        request = db.session.get(DsmRequest, request_id) if request_id else None
        if request is None:
            db.session.execute(
                text("SELECT procrastinate_finish_job_v1(:id, 'failed', false)"), {"id": job_id}
            )
            continue
        lock(request)
        if request.status == S.RUNNING and request.attempts < settings().max_attempts:
            _move(None, request, S.QUEUED, "retry_worker_lost")
            request.progress = 0
            db.session.execute(
                text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)"),
                {"id": job_id},
            )
            found.append(Recovered(request.id, job_id, True))
            continue
        if request.status in (S.RUNNING, S.QUEUED):
            fail(request, Failure.WORKER_LOST, "the worker stopped during every attempt")
        db.session.execute(
            text("SELECT procrastinate_finish_job_v1(:id, 'failed', false)"), {"id": job_id}
        )
        found.append(Recovered(request.id, job_id, False))
    orphans = db.session.scalars(
        select(DsmRequest)
        .where(
            DsmRequest.status == S.RUNNING,
            DsmRequest.job_id.is_not(None),
            text(
                "NOT EXISTS (SELECT FROM procrastinate_jobs j WHERE j.id = dsm_requests.job_id "
                "AND j.status IN ('todo', 'doing'))"
            ),
        )
        .with_for_update(skip_locked=True)
    ).all()
    for request in orphans:
        fail(request, Failure.WORKER_LOST, "the job ended while the request was running")
        found.append(Recovered(request.id, request.job_id or 0, False))
    return found


def workdir_for(request_id: int, attempt: int) -> Path:
    from dinamis import PROJECT_ROOT

    root = Path(settings().workdir)
    root = root if root.is_absolute() else PROJECT_ROOT / root
    return root / f"request-{request_id}" / f"attempt-{attempt}"


def clean_workdir(request_id: int) -> None:
    shutil.rmtree(workdir_for(request_id, 1).parent, ignore_errors=True)


def statistics() -> dict[str, int]:
    """Requests per state (the staff queue's header)."""
    rows = db.session.execute(
        select(DsmRequest.status, func.count()).group_by(DsmRequest.status)
    ).all()
    return {status: count for status, count in rows}
