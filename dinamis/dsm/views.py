"""Surface models on the web: the request form from a scene, a request's page with its
progress, the lists (and the staff's queue), cancelling, the quote's decision."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon, mapping

from dinamis.catalogue import service as catalogue
from dinamis.catalogue.models import Scene
from dinamis.core import dates
from dinamis.core.columns import values_of
from dinamis.core.errors import ServiceError
from dinamis.core.formats import number as format_number
from dinamis.core.geo import geodesic_km2
from dinamis.core.loading import get_allowed
from dinamis.core.permissions import current_account, ensure, requires
from dinamis.core.web import Made, refusal_fields, status_page, submit_once
from dinamis.dsm import service
from dinamis.dsm.forms import CancelForm, DsmForm
from dinamis.dsm.models import DSM_ENDED, DSM_STATUS_WORDS, DsmRequest, DsmStatus
from dinamis.dsm.pdf import quote_sheet
from dinamis.dsm.permissions import (
    can_cancel_dsm_request,
    can_decide_dsm_quote,
    can_request_dsm,
    can_see_dsm_log,
    can_view_dsm_request,
    can_view_dsm_requests,
)
from dinamis.extensions import db
from dinamis.membership.models import Entity
from dinamis.orders.forms import area_of
from dinamis.orders.pdf import quote_pdf_response
from dinamis.quota import service as quota

bp = Blueprint("dsm", __name__, url_prefix="/dsm")


@bp.route("/")
@requires(can_view_dsm_requests)
def index() -> Any:
    user = current_account()
    return status_page(
        "dsm/index.html",
        values_of(DsmStatus),
        partial(service.visible_requests, user),
        ("queue",),
        words=DSM_STATUS_WORDS,
        counts=service.statistics() if user.is_staff else {},
    )


def _available(entity: Entity | None) -> Decimal:
    if entity is None:
        return Decimal("0.00")
    period = quota.period_for(dates.today())
    for line in quota.balances(entity):
        if line.family == "dsm" and line.period == period:
            return line.available
    return Decimal("0.00")


def _form_page(form: DsmForm, scene: Scene, status: int = 200) -> Any:
    user = current_account()
    group = catalogue.stereo_group(scene)
    overlap = service.overlap(group) if len(group) > 1 else None
    features = (
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": _("common footprint"),
                    "geometry": mapping(overlap),
                    "properties": {},
                }
            ],
        }
        if overlap is not None and not overlap.is_empty
        else None
    )
    rules = service.settings()
    return (
        render_template(
            "dsm/new.html",
            form=form,
            scene=scene,
            group=group,
            overlap_km2=quota.km2(geodesic_km2(overlap))
            if overlap is not None and features
            else None,
            footprints=features,
            refusal=service.source_refusal(user, scene),
            rules=rules,
            available=_available(user.entity),
        ),
        status,
    )


def _choices(form: DsmForm, scene: Scene) -> None:
    default = service.default_resolution(scene)
    form.resolution_m.choices = [
        (
            str(r),
            _("%(m)s m (default)", m=format_number(r))
            if r == default
            else _("%(m)s m", m=format_number(r)),
        )
        for r in service.resolutions(scene)
    ]
    if not form.resolution_m.data or form.resolution_m.data == "None":
        form.resolution_m.data = str(default)


def _scene_of(form: DsmForm) -> Scene:
    scene_id = (form.scene_id.data or request.args.get("scene") or "").strip()[:200]
    scene = db.session.get(Scene, scene_id) if scene_id else None
    if scene is None:
        abort(404)
    return scene


def _typed_aoi(form: DsmForm) -> MultiPolygon | None:
    area = area_of(form)
    if area is None and not form.whole.data:
        raise ServiceError(
            _("Draw or upload an area of interest, or take the whole overlap."),
            fields={"aoi": _("Required.")},
        )
    return area


def _ask(form: DsmForm, scene: Scene) -> service.DsmAsk:
    try:
        resolution = Decimal(form.resolution_m.data or "")
    except InvalidOperation:
        resolution = Decimal("NaN")
    return service.DsmAsk(
        scene_id=scene.id,
        aoi=_typed_aoi(form),
        resolution_m=resolution,
        project_title=form.project_title.data or "",
        project_description=form.project_description.data or "",
        theme=form.theme.data or "other",
    )


@bp.route("/new", methods=["GET", "POST"])
@requires(can_request_dsm)
def new() -> Any:
    """Ask for a surface model from a scene of a stereo group (?scene=ID)."""
    user = current_account()
    form = DsmForm()
    if request.method == "GET":
        form.scene_id.data = request.args.get("scene", "")
    scene = _scene_of(form)
    _choices(form, scene)
    if request.method == "POST" and form.aoi.data and form.aoi.data.strip():
        form.whole.data = False  # an area drawn or pasted wins over the box

    def make() -> Made:
        created = service.submit(user, _ask(form, scene))
        message = _(
            "Your surface-model request %(number)s has been submitted.", number=created.number
        )
        return Made(created.number, url_for("dsm.show", request_id=created.id), message)

    def rules() -> dict[str, str]:
        return refusal_fields(lambda: service.check(user, _ask(form, scene)))

    return submit_once(form, "dsm.new", make, partial(_form_page, form, scene), rules, "dsm.index")


def _product_files(found: DsmRequest) -> list[Any]:
    if not found.item_id:
        return []
    item = db.session.get(Scene, found.item_id)
    if item is None:
        return []
    from dinamis.catalogue.views import current_visit

    return catalogue.file_states(current_user, item, current_visit())


def _load(request_id: int) -> DsmRequest:
    return get_allowed(DsmRequest, request_id, current_user, can_view_dsm_request)


@bp.route("/<int:request_id>")
@requires(can_view_dsm_requests)
def show(request_id: int) -> Any:
    found = _load(request_id)
    item = db.session.get(Scene, found.item_id) if found.item_id else None
    return render_template(
        "dsm/show.html",
        req=found,
        aoi=mapping(to_shape(found.aoi)),
        item=item,
        files=_product_files(found),
        failure=service.failure_text(found.failure_code) if found.failure_code else None,
        notes={e.id: service.event_note(e) for e in found.events},
        may_cancel=found.status not in DSM_ENDED and can_cancel_dsm_request(current_user, found),
        quote_state=service.quote_state(found),
        may_decide=service.quote_state(found) == "pending"
        and can_decide_dsm_quote(current_user, found),
        staff=can_see_dsm_log(current_user),
        words=DSM_STATUS_WORDS,
        cancel_form=CancelForm(formdata=None),
    )


@bp.route("/<int:request_id>/quote.pdf")
@requires(can_view_dsm_requests)
def quote_pdf(request_id: int) -> Any:
    return quote_pdf_response(quote_sheet(_load(request_id)))


@bp.route("/<int:request_id>/progress")
@requires(can_view_dsm_requests)
def progress(request_id: int) -> Any:
    """The state and progress, for the page's refresh."""
    found = _load(request_id)
    return jsonify(
        {
            "status": found.status,
            "status_words": found.status_words,
            "progress": found.progress,
            "message": found.progress_message or "",
            "ended": found.status in DSM_ENDED,
        }
    )


@bp.route("/<int:request_id>/cancel", methods=["POST"])
@requires(can_view_dsm_requests)
def cancel(request_id: int) -> Any:
    user = current_account()
    found = _load(request_id)
    ensure(can_cancel_dsm_request(user, found))
    form = CancelForm()
    if not form.validate_on_submit():
        flash(_("The reason is at most 1000 characters."), "error")
        return redirect(url_for("dsm.show", request_id=found.id))
    try:
        service.cancel(user, found, form.reason.data)
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("dsm.show", request_id=found.id))
    flash(_("The request %(number)s is cancelled.", number=found.number), "success")
    return redirect(url_for("dsm.show", request_id=found.id))


@bp.route("/<int:request_id>/quote/<any(accept, decline):decision>", methods=["POST"])
@requires(can_view_dsm_requests)
def decide_quote(request_id: int, decision: str) -> Any:
    user = current_account()
    found = _load(request_id)
    ensure(can_decide_dsm_quote(user, found))
    form = CancelForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.decide_quote(user, found, decision == "accept")
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("dsm.show", request_id=found.id))
    flash(
        _("Quote accepted: the surface model is queued for computation.")
        if decision == "accept"
        else _("Quote declined: the request is cancelled."),
        "success",
    )
    return redirect(url_for("dsm.show", request_id=found.id))


def statement_references(references: list[str | None]) -> dict[str, tuple[str, str | None]]:
    """The quota statement's surface-model references as their numbers, linked for
    whoever may open them."""
    return {
        ref: (
            found.number,
            url_for("dsm.show", request_id=found.id)
            if can_view_dsm_request(current_user, found)
            else None,
        )
        for ref, found in service.by_reference(references).items()
    }
