"""Orders on the web: the tasking form, lists, an order's page and its actions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import select

from dinamis.catalogue import service as catalogue
from dinamis.catalogue.models import Scene
from dinamis.catalogue.views import current_visit
from dinamis.core import dates
from dinamis.core.columns import values_of
from dinamis.core.errors import ServiceError, refuse
from dinamis.core.formats import number as format_number
from dinamis.core.geo import geodesic_km2, parse_aoi, to_geojson
from dinamis.core.idempotency import Earlier
from dinamis.core.loading import get_allowed
from dinamis.core.permissions import current_account, requires
from dinamis.core.validation import digits
from dinamis.core.web import (
    Made,
    apply_service_error,
    hold_form,
    refusal_fields,
    show_earlier,
    submit_once,
)
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders import archive, service
from dinamis.orders.forms import ArchiveForm, CommentForm, DeliveryForm, TaskingForm, area_of
from dinamis.orders.models import Mode, Order, OrderKind, Sensor, Status
from dinamis.orders.pdf import order_sheet, quote_pdf_response
from dinamis.orders.permissions import (
    can_cancel_order,
    can_decide_quote,
    can_order,
    can_review_orders,
    can_view_order,
    can_view_orders,
)
from dinamis.reports.service import overdue_entities

bp = Blueprint("orders", __name__, url_prefix="/orders")


def _load(order_id: int) -> Order:
    return get_allowed(Order, order_id, current_user, can_view_order)


@bp.route("/")
@requires(can_view_orders)
def index() -> Any:
    user = current_account()
    args = request.args
    status = args.get("status") or None
    kind = args.get("kind") or None
    sensor = args.get("sensor") or None
    entity = args.get("entity") or None
    if (
        (status and status not in (*values_of(Status), "queue"))
        or (kind and kind not in values_of(OrderKind))
        or (sensor and sensor not in values_of(Sensor))
        or (entity and not digits(entity))
    ):
        refuse(400, _("Unknown filter value."))
    entities = []
    if user.is_staff:
        entities = list(db.session.scalars(select(Entity).order_by(Entity.name)))
    return render_template(
        "orders/index.html",
        orders=service.visible_orders(
            user,
            status,
            kind=kind,
            sensor=sensor,
            entity_id=int(entity) if entity else None,
            text=(args.get("q") or "").strip()[:100] or None,
        ),
        status=status,
        statuses=values_of(Status),
        kinds=values_of(OrderKind),
        sensors=values_of(Sensor),
        entities=entities,
        args=args,
        may_order=can_order(user),
    )


@bp.route("/tasking/new", methods=["GET", "POST"])
@requires(can_order)
def new_tasking() -> Any:
    user = current_account()
    form = TaskingForm()

    def make() -> Made:
        order = service.submit_tasking(user, _tasking_request(form, _typed_aoi(form)))
        message = _("Your tasking request %(number)s has been submitted.", number=order.number)
        return Made(order.number, url_for("orders.show", order_id=order.id), message)

    page, rules = partial(_tasking_page, form), partial(_tasking_problems, form)
    return submit_once(form, "orders.tasking", make, page, rules, "orders.index")


def _tasking_page(form: TaskingForm, status: int) -> Any:
    return render_template("orders/tasking_form.html", form=form), status


def _typed_aoi(form: TaskingForm) -> MultiPolygon:
    area = area_of(form)
    if area is None:
        raise ServiceError(_("Draw or upload an area of interest."), fields={"aoi": _("Required.")})
    return area


def _tasking_request(form: TaskingForm, aoi: MultiPolygon) -> service.TaskingRequest:
    start, end = form.window_start.data, form.window_end.data
    assert start is not None and end is not None  # both callers have them (DataRequired)
    return service.TaskingRequest(
        aoi=aoi,
        sensor=form.sensor.data or "",
        window_start=start,
        window_end=end,
        max_cloud_cover=form.max_cloud_cover.data or 0,
        max_incidence=form.max_incidence.data or 0,
        mode=form.mode.data or "",
        spectral_mode=form.spectral_mode.data or "",
        **form.project(),
    )


def _tasking_problems(form: TaskingForm) -> dict[str, str]:
    """A form its own checks refused: what the area and the ordering rules say too, at once."""
    try:
        aoi = _typed_aoi(form)
    except ServiceError as error:
        return error.fields
    if form.window_start.data is None or form.window_end.data is None:
        return {}  # the rules need the window; its fields already say what is missing
    return refusal_fields(lambda: service.check_tasking(_tasking_request(form, aoi), dates.today()))


@bp.route("/archive/new", methods=["GET", "POST"])
@requires(can_order)
def new_archive() -> Any:
    """An archive order for scenes picked in the catalogue (?scenes=A,B or the basket)."""
    user = current_account()
    form = ArchiveForm()
    if request.method == "GET":
        wanted = request.args.get("scenes") or ""
        ids = (
            catalogue.basket_ids(user, current_visit())
            if wanted == "basket"
            else [i for i in wanted.split(",") if i]
        )
        form.scenes.data = ",".join(ids)
    ids = [i for i in (form.scenes.data or "").split(",") if i][: archive.MAX_ITEMS + 1]
    scenes = list(db.session.scalars(select(Scene).where(Scene.id.in_(ids))))
    problems: dict[str, str] = {}  # the refusal's messages about listed scenes

    def make() -> Made:
        try:
            order = archive.submit_archive(user, _archive_request(form, ids))
        except ServiceError as error:
            problems.update(_scene_problems(error.fields, ids))
            raise
        message = _("Your archive order %(number)s has been submitted.", number=order.number)
        return Made(order.number, url_for("orders.show", order_id=order.id), message)

    def rules() -> dict[str, str]:
        refused = refusal_fields(lambda: archive.check_archive(user, _archive_request(form, ids)))
        problems.update(_scene_problems(refused, ids))
        return refused

    def page(status: int) -> Any:
        return (
            render_template(
                "orders/archive_form.html",
                form=form,
                scenes=scenes,
                not_orderable={s.id: archive.why_not_orderable(user, s) for s in scenes},
                footprints=catalogue.footprints(scenes),
                minimum=service.settings().archive_min_km2,
                areas={s.id: geodesic_km2(to_shape(s.footprint)) for s in scenes},
                problems=problems,
            ),
            status,
        )

    return submit_once(form, "orders.archive", make, page, rules, "orders.index")


def _archive_request(form: ArchiveForm, ids: list[str]) -> archive.ArchiveRequest:
    cut = area_of(form)
    return archive.ArchiveRequest(
        items=[archive.ArchiveItem(i, cut) for i in ids], **form.project()
    )


def _scene_problems(refused: dict[str, str], ids: list[str]) -> dict[str, str]:
    """A refusal's messages about listed scenes (`items.<i>`), by scene id."""
    problems = {}
    for key, message in refused.items():
        index = key.split(".")[1] if key.startswith("items.") else ""
        if index.isdigit() and int(index) < len(ids):
            problems[ids[int(index)]] = message
    return problems


@bp.route("/coverage", methods=["POST"])
@requires(can_order)
def coverage() -> Any:
    """JSON for the tasking form's preview: the limits the submission would refuse,
    how much of the AOI the catalogue already covers, and what would be charged
    (the CSRF token comes in the X-CSRFToken header)."""
    from flask import jsonify

    from dinamis.catalogue.coverage import coverage as catalogue_coverage

    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ServiceError(_("Send the area and filters as a JSON object."))
    aoi = parse_aoi(data.get("aoi") or {})
    form = TaskingForm(formdata=None, meta={"csrf": False})
    limits: dict[str, str] = {}
    given: dict[str, Any] = {}
    for name in ("max_cloud_cover", "max_incidence"):
        given[name] = _whole_number(data.get(name))
        if given[name] is _NOT_A_NUMBER:
            limits[name] = _("Enter a whole number.")
            given[name] = None
    for name in ("window_start", "window_end"):
        try:
            given[name] = dt.date.fromisoformat(str(data[name])) if data.get(name) else None
        except ValueError:
            limits[name] = _("Enter a date.")
            given[name] = None
    sensor = str(data.get("sensor") or Sensor.PLEIADES)
    mode = str(data.get("mode") or Mode.MONO)
    area = geodesic_km2(aoi)
    limits.update(
        service.tasking_limits(dates.today(), area=area, sensor=sensor, mode=mode, **given)
    )
    cloud, incidence = given["max_cloud_cover"], given["max_incidence"]
    found = catalogue_coverage(
        aoi,
        sensor_family=str(data.get("sensor") or "") or None,
        max_cloud=Decimal(cloud) if cloud is not None and "max_cloud_cover" not in limits else None,
        max_incidence=(
            Decimal(incidence) if incidence is not None and "max_incidence" not in limits else None
        ),
    )
    problems = [
        message
        if name == "aoi"
        else _("%(field)s: %(message)s", field=form[name].label.text, message=message)
        for name, message in limits.items()
    ]
    answer: dict[str, Any] = {
        "aoi_km2": str(found.aoi_km2),
        "covered_km2": str(found.covered_km2),
        "percent": str(found.percent),
        "scenes": found.scenes,
        "message": _(
            "The catalogue already covers %(percent)s %% of this area (%(km2)s km², "
            "%(n)d scene(s) with these filters).",
            percent=format_number(found.percent),
            km2=format_number(found.covered_km2),
            n=found.scenes,
        ),
        "limits": limits,
        "problems": problems,
        "refused": "true" if limits else "false",
        "split": "",
    }
    if "aoi" not in limits and "sensor" not in limits and "mode" not in limits:
        answer.update(_split_preview(area, sensor, mode))
    return jsonify(answer)


_NOT_A_NUMBER = object()


def _whole_number(value: Any) -> Any:
    """A form's whole number: None when empty, _NOT_A_NUMBER when not one (1e309, 2.5, abc)."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not digits(text.lstrip("+-")) or len(text) > 12:
        return _NOT_A_NUMBER
    return int(text)


def _split_preview(area: Decimal, sensor: str, mode: str) -> dict[str, str]:
    """What submitting would charge, in words: the free and co-funded parts, the quote."""
    user = current_account()
    charge = service.preview_charge(user, area, sensor, mode)
    text = _(
        "Charged %(charged)s km²: %(free)s km² free from your allowance, %(cofunded)s km² "
        "co-funded.",
        charged=format_number(charge.charged),
        free=format_number(charge.free),
        cofunded=format_number(charge.cofunded),
    )
    if charge.excluding_tax is not None:
        text += " " + _(
            "Quote: about %(eur)s € excluding tax, to be accepted by your Referent.",
            eur=format_number(charge.excluding_tax),
        )
    return {"split": text, "free_km2": str(charge.free), "cofunded_km2": str(charge.cofunded)}


@bp.route("/<int:order_id>")
@requires(can_view_orders)
def show(order_id: int) -> Any:
    order = _load(order_id)
    return _page(order)


def _page(order: Order, status: int = 200, **forms: Any) -> Any:
    forms.setdefault("comment_form", CommentForm(formdata=None))
    forms.setdefault("delivery_form", DeliveryForm(formdata=None))
    may_review = can_review_orders(current_user)
    return (
        render_template(
            "orders/show.html",
            order=order,
            delivered=_delivered(order),
            notes=service.timeline_notes(order),
            candidates=(
                service.delivery_candidates(order)
                if may_review and order.status in (Status.ACCEPTED, Status.PARTIALLY_DELIVERED)
                else []
            ),
            aoi=to_geojson(to_shape(order.aoi)),
            quote=next((q for q in order.quotes if q.status == "pending"), None),
            may_cancel=can_cancel_order(current_user, order) and service.cancellable(order),
            may_decide=can_decide_quote(current_user, order),
            may_review=can_review_orders(current_user),
            overdue_reports=(
                overdue_entities().get(order.entity_id, 0) if can_review_orders(current_user) else 0
            ),
            **forms,
        ),
        status,
    )


def _delivered(order: Order) -> list[tuple[Any, list[tuple[Scene, list[Any]]]]]:
    """Each delivery with its scenes (the stereo group) and their files as the viewer sees
    them (downloadable, licence to accept, or why not)."""
    found = []
    visit = current_visit()
    for delivery in order.deliveries:
        scene = db.session.get(Scene, delivery.scene_id) if delivery.scene_id else None
        group = catalogue.stereo_group(scene) if scene is not None else []
        found.append(
            (delivery, [(s, catalogue.file_states(current_user, s, visit)) for s in group])
        )
    return found


_Form = TypeVar("_Form", CommentForm, DeliveryForm)


def _act(
    order_id: int, form_class: type[_Form], action: Callable[[Order, _Form], object], done: str
) -> Any:
    order = _load(order_id)
    form = form_class()
    form_name = "delivery_form" if isinstance(form, DeliveryForm) else "comment_form"
    if not form.validate_on_submit():
        return _page(order, 422, **{form_name: form})
    try:
        earlier = action(order, form)
    except ServiceError as error:
        apply_service_error(form, error)
        return _page(order, error.status, **{form_name: form})
    if isinstance(earlier, Earlier):  # a form sent twice (its one-time token)
        return show_earlier(earlier)
    flash(done, "success")
    return redirect(url_for("orders.show", order_id=order.id))


@bp.route("/<int:order_id>/cancel", methods=["POST"])
@requires(can_view_orders)
def cancel(order_id: int) -> Any:
    user = current_account()
    return _act(
        order_id,
        CommentForm,
        lambda order, form: service.cancel(user, order, form.comment.data),
        _("The order was cancelled."),
    )


@bp.route("/<int:order_id>/quote/<any(accept, decline):decision>", methods=["POST"])
@requires(can_view_orders)
def decide_quote(order_id: int, decision: str) -> Any:
    user = current_account()
    return _act(
        order_id,
        CommentForm,
        lambda order, form: service.decide_quote(user, order, decision == "accept"),
        _("Quote accepted: the order goes to review.")
        if decision == "accept"
        else _("Quote declined: the order was cancelled."),
    )


@bp.route("/<int:order_id>/quote.pdf")
@requires(can_view_orders)
def quote_pdf(order_id: int) -> Any:
    order = _load(order_id)
    if not order.quotes:
        abort(404)
    return quote_pdf_response(order_sheet(order, order.quotes[-1]))


@bp.route("/<int:order_id>/review/<any(accept, reject):decision>", methods=["POST"])
@requires(can_review_orders)
def review(order_id: int, decision: str) -> Any:
    user = current_account()
    return _act(
        order_id,
        CommentForm,
        lambda order, form: service.review(
            user, order, decision == "accept", form.comment.data or ""
        ),
        _("The order was accepted.") if decision == "accept" else _("The order was rejected."),
    )


@bp.route("/<int:order_id>/deliveries", methods=["POST"])
@requires(can_review_orders)
def deliver(order_id: int) -> Any:
    user = current_account()

    def once(order: Order, form: DeliveryForm) -> Earlier | None:
        claim = hold_form(form, "orders.delivery", user)
        if claim.earlier is None:
            service.deliver(user, order, form.scene_id.data or "", form.km2.data, form.reason.data)
            claim.record(form.scene_id.data or "", url_for("orders.show", order_id=order.id))
        return claim.earlier

    return _act(order_id, DeliveryForm, once, _("The delivery was recorded."))


@bp.route("/<int:order_id>/close", methods=["POST"])
@requires(can_review_orders)
def close(order_id: int) -> Any:
    user = current_account()
    return _act(
        order_id,
        CommentForm,
        lambda order, form: service.close(user, order, form.comment.data or ""),
        _("The order was closed."),
    )
