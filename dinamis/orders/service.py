"""The life of an order: submission, quote, review, delivery, closing.

Every transition goes through `_move`, which refuses any step not in
TRANSITIONS (no skipping, no going back) and records an OrderEvent; the
requester is told of each step (e-mail, webhooks) after its commit, by
`tell_steps`. The quota ledger follows: the free part is reserved at
submission, the co-funded part recorded when the quote is accepted, delivered
km² consumed, and whatever is left released when the order ends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from inspect import signature
from typing import Any, Protocol

from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon
from shapely.ops import unary_union
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import joinedload

from dinamis import config
from dinamis.accounts.models import User
from dinamis.accounts.service import mail_user
from dinamis.catalogue.models import Collection, Scene
from dinamis.catalogue.service import stereo_group
from dinamis.config import OrderSettings
from dinamis.core import dates, mail
from dinamis.core.columns import values_of
from dinamis.core.db import utcnow
from dinamis.core.errors import Conflict, Forbidden, ServiceError
from dinamis.core.formats import day as format_day
from dinamis.core.formats import number as format_number
from dinamis.core.geo import geodesic_km2, polygons, size_error
from dinamis.core.labels import label
from dinamis.extensions import db
from dinamis.membership.members import mail_managers
from dinamis.membership.models import Entity
from dinamis.membership.permissions import visible_to
from dinamis.orders.models import (
    MODE_FACTOR,
    Delivery,
    Mode,
    Order,
    OrderEvent,
    OrderKind,
    Quote,
    QuoteStatus,
    Sensor,
    SpectralMode,
    Status,
    Theme,
)
from dinamis.orders.permissions import (
    can_cancel_order,
    can_decide_quote,
    can_order,
    can_review_orders,
)
from dinamis.quota import service as quota
from dinamis.quota.models import Family
from dinamis.quota.pricing import Price, price, quote_expired, quote_valid_until
from dinamis.webhooks import events as webhook_events

TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.DRAFT: (Status.AWAITING_QUOTE, Status.UNDER_REVIEW, Status.CANCELLED),
    Status.AWAITING_QUOTE: (Status.UNDER_REVIEW, Status.CANCELLED),
    Status.UNDER_REVIEW: (Status.ACCEPTED, Status.REJECTED, Status.CANCELLED),
    Status.ACCEPTED: (Status.PARTIALLY_DELIVERED, Status.DELIVERED, Status.EXPIRED),
    # A partial delivery may be closed: measured deliveries seldom cover every km² of
    # the AOI; closing releases what is left.
    Status.PARTIALLY_DELIVERED: (
        Status.PARTIALLY_DELIVERED,
        Status.DELIVERED,
        Status.EXPIRED,
        Status.CLOSED,
    ),
    Status.DELIVERED: (Status.CLOSED,),
}


def settings() -> OrderSettings:
    """The ordering rules (minimum areas, windows, tax rate, quote validity)."""
    return config.current().orders


@dataclass(frozen=True)
class TaskingRequest:
    """What a user asks for, already parsed (the AOI through `core.geo.parse_aoi`)."""

    aoi: MultiPolygon
    sensor: str
    window_start: dt.date
    window_end: dt.date
    max_cloud_cover: int
    max_incidence: int
    mode: str
    spectral_mode: str
    project_title: str
    project_description: str
    justification: str
    theme: str
    funding: str | None = None


def family_of(kind: str, sensor: str) -> str:
    """The quota family an order draws on."""
    if sensor == Sensor.NEO:
        return Family.NEO
    return Family.TASKING if kind == OrderKind.TASKING else Family.ARCHIVE


# A tasking request's area of interest too small, too large (`core.geo.size_error`).
TASKING_SIZE = (
    _l("The area of interest covers %(area)s km²; a tasking request needs at least %(min)s km²."),
    _l("The area of interest covers %(area)s km²; a tasking request covers at most %(max)s km²."),
)


def tasking_limits(
    today: dt.date,
    area: Decimal | None = None,
    sensor: str | None = None,
    mode: str | None = None,
    spectral_mode: str | None = None,
    window_start: dt.date | None = None,
    window_end: dt.date | None = None,
    max_cloud_cover: int | None = None,
    max_incidence: int | None = None,
) -> dict[str, str]:
    """The limits a tasking request breaks, by field; what is not given is not checked.

    The one statement of the rules: the submission checks every field, the
    form's preview checks what has been filled in so far.
    """
    rules = settings()
    errors: dict[str, str] = {}
    if sensor is not None and sensor not in values_of(Sensor):
        errors["sensor"] = _("Unknown sensor.")
    if area is not None:
        minimum, maximum = rules.tasking_min_for(sensor or ""), rules.tasking_max_km2
        if wrong := size_error(area, minimum, maximum, TASKING_SIZE):
            errors["aoi"] = wrong
    if window_start is not None:
        earliest = today + dt.timedelta(days=rules.lead_days)
        latest = today + dt.timedelta(days=rules.window_horizon_days)
        if window_start < earliest:
            errors["window_start"] = _(
                "The acquisition window starts on %(earliest)s at the earliest.",
                earliest=format_day(earliest),
            )
        elif window_start > latest:
            errors["window_start"] = _(
                "The acquisition window starts on %(latest)s at the latest.",
                latest=format_day(latest),
            )
    if window_start is not None and window_end is not None:
        if window_end <= window_start:
            errors["window_end"] = _("The window must end after it starts.")
        elif (window_end - window_start).days > rules.max_window_days:
            errors["window_end"] = _(
                "The window lasts at most %(n)d days.", n=rules.max_window_days
            )
    if mode is not None and mode not in values_of(Mode):
        errors["mode"] = _("Unknown acquisition mode.")
    if spectral_mode is not None and spectral_mode not in values_of(SpectralMode):
        errors["spectral_mode"] = _("Unknown spectral mode.")
    if max_cloud_cover is not None and not 0 <= max_cloud_cover <= 100:
        errors["max_cloud_cover"] = _("Between 0 and 100 %.")
    if max_incidence is not None and not 0 <= max_incidence <= 60:
        errors["max_incidence"] = _("Between 0 and 60 degrees.")
    return errors


# The fields of a tasking request that `tasking_limits` checks: its parameters after `today`
# and `area` are named after them.
LIMITED = tuple(signature(tasking_limits).parameters)[2:]


class Project(Protocol):
    """The project's part of a request (tasking or archive)."""

    @property
    def project_title(self) -> str: ...
    @property
    def project_description(self) -> str: ...
    @property
    def justification(self) -> str: ...
    @property
    def theme(self) -> str: ...


def project_errors(request: Project) -> dict[str, str]:
    """What an order's project lacks, by field: the one rule for the web forms and the API
    (a title, a description, a justification and one of the themes; nothing filled in)."""
    errors = {}
    for name in ("project_title", "project_description", "justification", "theme"):
        if not str(getattr(request, name) or "").strip():
            errors[name] = _("Required.")
    if "theme" not in errors and request.theme.strip() not in values_of(Theme):
        errors["theme"] = _("Unknown theme.")
    return errors


def check_tasking(request: TaskingRequest, today: dt.date) -> Decimal:
    """Refuse a request that breaks a rule; return the AOI's geodesic km²."""
    area = geodesic_km2(request.aoi)
    given = {name: getattr(request, name) for name in LIMITED}
    errors = tasking_limits(today, area=area, **given) | project_errors(request)
    if errors:
        first = errors.get("aoi") or next(iter(errors.values()))
        raise ServiceError(first, fields=errors)
    return area


def charged_km2(area: Decimal, mode: str) -> Decimal:
    """What a tasking request charges: its AOI's km² times the scenes of its mode."""
    return quota.km2(area * MODE_FACTOR[mode])


def cancellable(order: Order) -> bool:
    """Whether the order's state may still become cancelled (TRANSITIONS says)."""
    return Status.CANCELLED in TRANSITIONS.get(order.status, ())


@dataclass(frozen=True)
class Charge:
    """What submitting a tasking request would charge now, as the submission splits it."""

    charged: Decimal
    free: Decimal
    cofunded: Decimal
    # The quote's price excluding tax; None when nothing is co-funded or when the
    # entity's profile has no price for the sensor (the submission's quote says so).
    excluding_tax: Decimal | None


def preview_charge(
    actor: User, area: Decimal, sensor: str, mode: str, today: dt.date | None = None
) -> Charge:
    """The free and co-funded parts and the quote's price of a tasking request, without
    reserving anything (the form's preview; the submission does the same for real)."""
    entity = actor.entity
    if entity is None:
        raise Forbidden(_("Only members of an entity can order imagery."))
    charged = charged_km2(area, mode)
    family = family_of(OrderKind.TASKING, sensor)
    period = quota.period_for(today or dates.today())
    split = quota.split(entity, family, period, charged)
    euros = None
    if split.cofunded > 0:
        try:
            euros = _price(entity, sensor, OrderKind.TASKING, split.cofunded).excluding_tax
        except ServiceError:
            euros = None
    return Charge(charged, split.free, split.cofunded, euros)


def new_order(**fields: Any) -> Order:
    """A new order, its collections known to be empty.

    Saying so up front spares the four SELECTs (events, quotes, deliveries,
    items) that reading them back, as the API's answer does, would emit.
    """
    return Order(events=[], quotes=[], deliveries=[], items=[], **fields)


def ensure_can_order(actor: User) -> None:
    """Forbidden, saying why, unless the actor may order (a member of an active entity)."""
    if not can_order(actor):
        raise Forbidden(
            _("Your entity's membership is not active: you cannot order until it is renewed.")
            if actor.entity is not None and not actor.entity.can_order_on(dates.today())
            else _("Only members of an entity can order imagery.")
        )


def submit_tasking(actor: User, request: TaskingRequest, today: dt.date | None = None) -> Order:
    """Create and submit a tasking request; reserve its free part, quote the rest."""
    ensure_can_order(actor)
    today = today or dates.today()
    area = check_tasking(request, today)
    order = new_order(
        kind=OrderKind.TASKING,
        status=Status.DRAFT,
        entity_id=actor.entity_id,
        requester_id=actor.id,
        sensor=request.sensor,
        aoi=from_shape(request.aoi, srid=4326),
        aoi_km2=area,
        mode=request.mode,
        charged_km2=charged_km2(area, request.mode),
        family=family_of(OrderKind.TASKING, request.sensor),
        period=quota.period_for(today),
        window_start=request.window_start,
        window_end=request.window_end,
        max_cloud_cover=request.max_cloud_cover,
        max_incidence=request.max_incidence,
        spectral_mode=request.spectral_mode,
        project_title=request.project_title.strip(),
        project_description=request.project_description.strip(),
        justification=request.justification.strip(),
        theme=request.theme.strip(),
        funding=(request.funding or "").strip() or None,
    )
    return submit(actor, order)


def submit(actor: User, order: Order) -> Order:
    """Submit a new draft order (a tasking request, or an archive order with its items).

    The one submission path: the order's charged km² are split between what its
    entity has free now and the rest (`quota.hold`, which locks the entity's
    available account until the request commits), the rest quoted, and the order
    moved on by `_move` (to review, or to its quote), which writes it with its
    event, once, with its outcome (no draft inserted then updated). Its free part
    is then posted on the ledger (`quota.place`), linked to the order by its id
    (a foreign key): the running totals count it under the order's sensor as it
    is posted.
    """
    if order.status != Status.DRAFT or not sa_inspect(order).transient:
        raise Conflict(_("Only a draft order can be submitted."))
    entity = actor.entity
    assert entity is not None  # ensure_can_order
    order.entity, order.requester = entity, actor
    held = quota.hold(entity, order.family, order.period, order.charged_km2)
    order.free_km2, order.cofunded_km2 = held.split.free, held.split.cofunded
    order.submitted_at = utcnow()
    # Priced before the order joins the session (the price's query would write it as a
    # draft, to be updated): the order is written once, with its quote.
    quote = _make_quote(order) if held.split.cofunded > 0 else None
    db.session.add(order)
    _move(actor, order, Status.UNDER_REVIEW if quote is None else Status.AWAITING_QUOTE, None)
    quota.place(held, order.reference, order_id=order.id)
    if quote is not None:
        mail_managers(order.entity_id, "order_quote", order=order, quote=quote)
    return order


def _price(entity: Entity, sensor: str, kind: str, cofunded: Decimal) -> Price:
    """The co-funded km²'s price for the entity's profile (ServiceError when it has none)."""
    return price(entity.profile_id, sensor, kind, cofunded, settings().tax_rate)


def _make_quote(order: Order) -> Quote:
    """The quote of the order's co-funded part, among its quotes (written with it)."""
    rules = settings()
    priced = _price(order.entity, order.sensor, order.kind, order.cofunded_km2)
    return Quote(
        order=order,
        free_km2=order.free_km2,
        cofunded_km2=order.cofunded_km2,
        valid_until=quote_valid_until(dates.today(), rules.quote_validity_days),
        **priced.quoted(),
    )


def _move(actor: User | None, order: Order, target: str, comment: str | None) -> None:
    if target not in TRANSITIONS.get(order.status, ()):
        raise Conflict(
            _(
                "An order that is %(current)s cannot become %(target)s.",
                current=order.status,
                target=target,
            )
        )
    event = OrderEvent(
        order=order,
        from_status=order.status,
        to_status=target,
        actor_id=actor.id if actor is not None else None,
        comment=comment,
    )
    db.session.add(event)
    order.status = target
    # The order's new status and its step are written together; the requester is told of
    # the step after the commit (tell_steps), by this request when it sends its own mail.
    db.session.flush()
    mail.told_after_commit(tell_steps, event)


def _delivering(event: OrderEvent) -> bool:
    """Whether the step records a delivery: the n-th such step of an order is its n-th."""
    return event.to_status in (Status.DELIVERED, Status.PARTIALLY_DELIVERED) and (
        event.from_status in (Status.ACCEPTED, Status.PARTIALLY_DELIVERED)
    )


def _taken(event: OrderEvent) -> webhook_events.Taken:
    """The step as it was taken: its time, its comment, the order's deliveries then."""
    order = event.order
    delivered: list[Delivery] = []
    if _delivering(event):
        steps = [e.id for e in sorted(order.events, key=lambda e: e.id) if _delivering(e)]
        delivered = sorted(order.deliveries, key=lambda d: d.id)[: steps.index(event.id) + 1]
    return webhook_events.Taken(event.created_at, event.comment, delivered)


# A step its requester has not been told of yet (the partial index's condition).
_NOT_TOLD = OrderEvent.told_at.is_(None)
# Each step with its order and requester (what its e-mail needs), the steps alone locked.
_UNTOLD = (
    select(OrderEvent)
    .where(_NOT_TOLD)
    .order_by(OrderEvent.id)
    .options(joinedload(OrderEvent.order).joinedload(Order.requester))
    .with_for_update(of=OrderEvent, skip_locked=True)
)


@mail.producer(untold=select(OrderEvent.id).where(_NOT_TOLD).order_by(OrderEvent.id))
def tell_steps(ids: list[int] | None = None, batch: int = 100) -> int:
    """Tell the requesters of the orders' steps not told yet (these `ids`, or all of them,
    oldest first, `batch` at a time): their status e-mail and their webhooks' events, each
    once, as the step was taken (`core.mail.tell_each`). Commits; returns how many.

    Run by the outbox worker before each round of delivery, and after its commit by a
    request that sends its own mail (`deliver_in_request`).
    """
    untold = _UNTOLD if ids is None else _UNTOLD.where(OrderEvent.id.in_(ids))
    return mail.tell_each(untold, _tell, batch, again=ids is None)


def _tell(event: OrderEvent) -> None:
    order = event.order
    mail_user(order.requester, "order_status", order=order, event=event)
    webhook_events.order_changed(
        db.session, order, event.from_status, event.to_status, _taken(event)
    )


def lock(order: Order) -> None:
    """Lock the order's row, then read it again: the first step of every change to an order.

    One lock order everywhere (the order, then its quotes and deliveries, then
    the ledger accounts) so concurrent changes queue on the order instead of
    deadlocking: accepting a quote wrote the quote and the accounts before the
    order, cancelling wrote the order before them. Once the lock is held the
    order, its quotes and deliveries are read as the request that held it
    before left them, so a decision already taken is seen (and refused).
    """
    state = sa_inspect(order)
    if state.transient or state.pending:
        return  # not written yet: nobody else can see it
    loaded = [*order.__dict__.get("quotes", ()), *order.__dict__.get("deliveries", ())]
    db.session.execute(select(Order.id).where(Order.id == order.id).with_for_update())
    db.session.expire(order)
    for child in loaded:
        db.session.expire(child)


def _release(order: Order, step: str) -> None:
    """Give back everything the order still holds on the ledger."""
    quota.release(
        order.entity, order.family, order.period, order.reference, step, order_id=order.id
    )


def pending_quote(order: Order) -> Quote:
    for quote in order.quotes:
        if quote.status == QuoteStatus.PENDING:
            return quote
    raise Conflict(_("This order has no quote waiting for a decision."))


def decide_quote(actor: User, order: Order, accept: bool, today: dt.date | None = None) -> Quote:
    """The Referent accepts the quote (the order goes to review) or declines it (cancelled)."""
    if not can_decide_quote(actor, order):
        raise Forbidden(_("Only the entity's Referent or a deputy decides on a quote."))
    lock(order)
    quote = pending_quote(order)
    today = today or dates.today()
    if quote_expired(quote.valid_until, today):
        _expire_quote(order, quote)
        raise Conflict(
            _(
                "This quote expired on %(d)s; the order was cancelled.",
                d=format_day(quote.valid_until),
            )
        )
    quote.decided_by_id, quote.decided_at = actor.id, utcnow()
    if accept:
        quote.status = QuoteStatus.ACCEPTED
        quota.cofund(
            order.entity,
            order.family,
            order.period,
            order.cofunded_km2,
            order.reference,
            order_id=order.id,
        )
        _move(actor, order, Status.UNDER_REVIEW, _("Quote accepted."))
    else:
        quote.status = QuoteStatus.DECLINED
        _release(order, "quote-declined")
        _move(actor, order, Status.CANCELLED, _("Quote declined."))
    return quote


def _expire_quote(order: Order, quote: Quote) -> None:
    quote.status = QuoteStatus.EXPIRED
    _release(order, "quote-expired")
    _move(None, order, Status.CANCELLED, _("The quote expired."))


def cancel(actor: User, order: Order, reason: str | None = None) -> None:
    """The requester (or the Referent) withdraws an order not yet accepted."""
    if not can_cancel_order(actor, order):
        raise Forbidden(_("You cannot cancel this order."))
    lock(order)
    pending = [q for q in order.quotes if q.status == QuoteStatus.PENDING]
    _move(actor, order, Status.CANCELLED, reason)
    for quote in pending:
        quote.status = QuoteStatus.DECLINED
    _release(order, "cancelled")


def review(actor: User, order: Order, accept: bool, comment: str) -> None:
    """Staff accept (feasible, eligible) or reject an order, with a comment."""
    if not can_review_orders(actor):
        raise Forbidden(_("Only staff review orders."))
    lock(order)
    if not comment.strip() and not accept:
        raise ServiceError(
            _("Give the reason for the rejection."), fields={"comment": _("Required.")}
        )
    if accept:
        _move(actor, order, Status.ACCEPTED, comment.strip() or None)
    else:
        _move(actor, order, Status.REJECTED, comment.strip())
        _release(order, "rejected")
    order.staff_comment = comment.strip() or order.staff_comment


SENSOR_OF_FAMILY = {"pleiades": Sensor.PLEIADES, "pleiades-neo": Sensor.NEO, "spot": Sensor.SPOT}


def _sensor_name(sensor: str | None) -> str:
    return label(sensor) if sensor else _("an unknown sensor")


@dataclass(frozen=True)
class Measured:
    """What delivering a scene would deliver: its group and the km² the ledger consumes."""

    scene: Scene
    group: list[Scene]
    km2: Decimal


def measure_delivery(order: Order, scene_id: str) -> Measured:
    """Check that a catalogue scene can be this order's product and measure it.

    Tasking: acquired within the window by the ordered sensor, and meeting the
    AOI; the km² are the geodesic area of the part of the AOI it covers that
    no earlier delivery covered, times the scenes of its stereo group (x2 a
    pair, x3 a triplet, as far as the ordered mode goes). Archive: one of the
    ordered scenes; its km² are those of its cut (or whole footprint).
    Refused with a message otherwise.
    """
    scene_id = scene_id.strip()
    if not scene_id:
        raise ServiceError(_("Name the delivered scene."), fields={"scene_id": _("Required.")})
    scene = db.session.get(Scene, scene_id)
    if scene is None:
        message = _("There is no scene %(id)s in the catalogue.", id=scene_id[:200])
        raise ServiceError(message, fields={"scene_id": message})
    group = stereo_group(scene)
    delivered = {d.scene_id for d in order.deliveries if d.scene_id}
    done = [s.id for s in group if s.id in delivered]
    if done:
        message = _(
            "Scene %(id)s was already delivered for this order (%(done)s).",
            id=scene.id,
            done=", ".join(done),
        )
        raise ServiceError(message, fields={"scene_id": message})
    if order.kind == OrderKind.ARCHIVE:
        item = next((i for i in order.items if i.scene_id == scene.id), None)
        if item is None:
            message = _("Scene %(id)s is not one of this order's scenes.", id=scene.id)
            ordered = ", ".join(sorted(i.scene_id for i in order.items))
            raise ServiceError(message, fields={"scene_id": _("One of: %(ids)s.", ids=ordered)})
        cut = to_shape(item.cut) if item.cut is not None else to_shape(scene.footprint)
        return Measured(scene, [scene], geodesic_km2(polygons(cut)))
    sensor = SENSOR_OF_FAMILY.get(scene.collection.sensor_family)
    if sensor != order.sensor:
        message = _(
            "Scene %(id)s was acquired by %(sensor)s; this order asks for %(ordered)s.",
            id=scene.id,
            sensor=_sensor_name(sensor or scene.collection.sensor_family),
            ordered=_sensor_name(order.sensor),
        )
        raise ServiceError(message, fields={"scene_id": message})
    acquired = scene.datetime.astimezone(dt.UTC).date()
    assert order.window_start is not None and order.window_end is not None
    if not order.window_start <= acquired <= order.window_end:
        message = _(
            "Scene %(id)s was acquired on %(day)s, outside the order's acquisition window "
            "(%(start)s to %(end)s).",
            id=scene.id,
            day=format_date(acquired),
            start=format_date(order.window_start),
            end=format_date(order.window_end),
        )
        raise ServiceError(message, fields={"scene_id": message})
    aoi = to_shape(order.aoi)
    covered = polygons(aoi.intersection(to_shape(scene.footprint)))
    if covered.is_empty or geodesic_km2(covered) <= 0:
        message = _("Scene %(id)s does not meet the order's area of interest.", id=scene.id)
        raise ServiceError(message, fields={"scene_id": message})
    # What the scene adds to the AOI's part already delivered: the area of the union
    # after, less before (so the deliveries of an AOI add up to its area, overlaps and
    # rounding included), times its group, at most as many scenes as the mode orders,
    # and never more than the order has left to deliver.
    earlier = [
        to_shape(s.footprint)
        for s in db.session.scalars(select(Scene).where(Scene.id.in_(delivered)))
    ]
    if earlier:
        before = polygons(aoi.intersection(unary_union(earlier)))
        after = polygons(aoi.intersection(unary_union([*earlier, to_shape(scene.footprint)])))
        area = geodesic_km2(after) - geodesic_km2(before)
    else:
        area = geodesic_km2(covered)
    if area <= 0:
        message = _(
            "Scene %(id)s covers only parts of the area of interest that earlier deliveries "
            "covered.",
            id=scene.id,
        )
        raise ServiceError(message, fields={"scene_id": message})
    factor = min(len(group), MODE_FACTOR[order.mode])
    left = order.charged_km2 - order.delivered_km2
    return Measured(scene, group, quota.km2(min(area * factor, max(left, Decimal("0.01")))))


def delivery_candidates(order: Order, limit: int = 20) -> list[Measured]:
    """The catalogue scenes staff may deliver for this order, each measured."""
    if order.kind == OrderKind.ARCHIVE:
        ids = [i.scene_id for i in order.items]
    else:
        assert order.window_start is not None and order.window_end is not None
        families = [f for f, s in SENSOR_OF_FAMILY.items() if s == order.sensor]
        start = dt.datetime.combine(order.window_start, dt.time(), tzinfo=dt.UTC)
        end = dt.datetime.combine(order.window_end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        ids = list(
            db.session.scalars(
                select(Scene.id)
                .join(Collection, Collection.id == Scene.collection_id)
                .where(
                    Collection.sensor_family.in_(families),
                    Scene.datetime >= start,
                    Scene.datetime < end,
                    func.ST_Intersects(Scene.footprint, order.aoi),
                )
                .order_by(Scene.datetime, Scene.id)
                .limit(limit * 3)
            )
        )
    found = []
    for scene_id in ids:
        try:
            found.append(measure_delivery(order, scene_id))
        except ServiceError:
            continue  # delivered already, or nothing left to cover
        if len(found) == limit:
            break
    return found


def deliver(
    actor: User,
    order: Order,
    scene_id: str,
    corrected_km2: Decimal | None = None,
    reason: str | None = None,
) -> Delivery:
    """Staff record the delivery of a catalogue scene; the ledger consumes its measured km².

    The km² are measured (`measure_delivery`); staff may correct them only
    with a reason, kept with the delivery and on the order's timeline.
    """
    if not can_review_orders(actor):
        raise Forbidden(_("Only staff record deliveries."))
    lock(order)
    if order.status not in (Status.ACCEPTED, Status.PARTIALLY_DELIVERED):
        raise Conflict(_("Only an accepted order can receive deliveries."))
    measured = measure_delivery(order, scene_id)
    charged, why = measured.km2, (reason or "").strip() or None
    if corrected_km2 is not None:
        if not corrected_km2.is_finite() or quota.km2(corrected_km2) <= 0:
            raise ServiceError(
                _("The delivered area must be positive."), fields={"km2": _("Positive.")}
            )
        charged = quota.km2(corrected_km2)
    if charged == measured.km2:
        why = None
    elif why is None:
        message = _(
            "The measured area is %(km2)s km²; give the reason for correcting it.",
            km2=measured.km2,
        )
        raise ServiceError(message, fields={"reason": _("Required to correct the area.")})
    delivery = Delivery(
        order=order,
        scene_ref=measured.scene.id,
        scene_id=measured.scene.id,
        km2=charged,
        computed_km2=measured.km2,
        correction_reason=why,
        actor_id=actor.id,
    )
    db.session.add(delivery)
    db.session.flush()
    quota.settle(
        order.entity,
        order.family,
        order.period,
        order.reference,
        charged,
        f"delivery:{delivery.id}",
        order_id=order.id,
    )
    complete = order.delivered_km2 >= order.charged_km2
    _move(
        actor,
        order,
        Status.DELIVERED if complete else Status.PARTIALLY_DELIVERED,
        delivery_note(delivery, [s.id for s in measured.group]),
    )
    return delivery


def delivery_note(delivery: Delivery, scene_ids: list[str] | None = None) -> str:
    """What a delivery was, in the reader's language: its km², its scenes, and the
    correction's reason if staff corrected the measured area. The order's timeline
    writes it when shown (its stored comment is in the language of whoever delivered)."""
    scenes = ", ".join(scene_ids or [delivery.scene_ref])
    if not delivery.correction_reason:
        return _(
            "%(km2)s km² delivered (%(scene)s).", km2=format_number(delivery.km2), scene=scenes
        )
    return _(
        "%(km2)s km² delivered (%(scene)s), corrected from the measured %(measured)s km²: "
        "%(reason)s",
        km2=format_number(delivery.km2),
        scene=scenes,
        measured=format_number(delivery.computed_km2),
        reason=delivery.correction_reason,
    )


def timeline_notes(order: Order) -> dict[int, str]:
    """The notes of an order's delivery events written in the reader's language, by
    event id: the n-th event that records a delivery is the n-th delivery."""
    delivering = [e for e in sorted(order.events, key=lambda e: e.id) if _delivering(e)]
    deliveries = sorted(order.deliveries, key=lambda d: d.id)
    notes = {}
    for event, delivery in zip(delivering, deliveries, strict=False):
        scene = db.session.get(Scene, delivery.scene_id) if delivery.scene_id else None
        group = stereo_group(scene) if scene is not None else []
        notes[event.id] = delivery_note(delivery, [s.id for s in group] or None)
    return notes


def close(actor: User, order: Order, comment: str = "") -> None:
    """Staff close a delivered order; anything still held is released."""
    if not can_review_orders(actor):
        raise Forbidden(_("Only staff close orders."))
    lock(order)
    _move(actor, order, Status.CLOSED, comment.strip() or None)
    _release(order, "closed")


def expire_windows(today: dt.date | None = None) -> list[Order]:
    """Orders whose acquisition window has passed without full delivery: expired, released."""
    today = today or dates.today()
    orders = list(
        db.session.scalars(
            select(Order)
            .where(
                Order.status.in_((Status.ACCEPTED, Status.PARTIALLY_DELIVERED)),
                Order.window_end < today,
            )
            .with_for_update(skip_locked=True)
        )
    )
    for order in orders:
        _move(None, order, Status.EXPIRED, _("The acquisition window has passed."))
        _release(order, "expired")
    quotes = list(
        db.session.scalars(
            select(Quote)
            .join(Order)
            .where(Quote.status == QuoteStatus.PENDING, Quote.valid_until < today)
        )
    )
    for quote in quotes:
        lock(quote.order)
        db.session.refresh(quote)
        if quote.status == QuoteStatus.PENDING:  # not decided meanwhile
            _expire_quote(quote.order, quote)
    return orders


def by_ids(ids: set[int]) -> dict[int, Order]:
    """The orders of these ids (those that exist), by id."""
    if not ids:
        return {}
    return {o.id: o for o in db.session.scalars(select(Order).where(Order.id.in_(ids)))}


STAFF_QUEUE = (Status.UNDER_REVIEW, Status.ACCEPTED, Status.PARTIALLY_DELIVERED, Status.DELIVERED)


def visible_orders(
    actor: User,
    status: str | None = None,
    *,
    kind: str | None = None,
    sensor: str | None = None,
    entity_id: int | None = None,
    text: str | None = None,
    before: int | None = None,
    limit: int = 500,
) -> list[Order]:
    """My orders; the whole entity's for its Referent and deputies; all for staff.

    Newest first, at most `limit`, older than order `before` when given (the next
    page). `status` "queue" is what staff have to act on (review, deliveries,
    closing), oldest first.
    """
    query = (
        select(Order)
        .where(visible_to(actor, Order.entity_id, Order.requester_id))
        .order_by(Order.id.desc())
    )
    if status == "queue":
        query = query.where(Order.status.in_(STAFF_QUEUE)).order_by(None).order_by(Order.id)
    elif status:
        query = query.where(Order.status == status)
    if kind:
        query = query.where(Order.kind == kind)
    if sensor:
        query = query.where(Order.sensor == sensor)
    if entity_id is not None:
        query = query.where(Order.entity_id == entity_id)
    if before is not None:
        query = query.where(Order.id < before)
    if text:
        # As typed: `%`, `_` and `\` are characters, not LIKE wildcards.
        query = query.where(Order.project_title.icontains(text, autoescape=True))
    return list(db.session.scalars(query.limit(limit)))
