"""Saved searches on the web: save one from the catalogue (or the tasking form), list,
change, pause, delete; the signed unsubscribe link; the staff's alert activity."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import select

from dinamis.alerts import service
from dinamis.alerts.forms import SavedSearchForm
from dinamis.alerts.models import SavedSearch
from dinamis.alerts.permissions import can_save_searches, can_view_alert_activity
from dinamis.catalogue.models import Collection
from dinamis.core.errors import ServiceError
from dinamis.core.permissions import current_account, public, requires
from dinamis.core.web import add_field_errors, hold_form, refused_form, show_earlier
from dinamis.extensions import csrf, db

bp = Blueprint("alerts", __name__, url_prefix="/alerts")
admin_bp = Blueprint("alerts_admin", __name__, url_prefix="/admin/alerts")

# The catalogue's query string, as the form's fields (a link from the catalogue page).
FROM_CATALOGUE = {
    "aoi": "aoi",
    "start": "date_from",
    "end": "date_to",
    "max_cloud": "max_cloud",
    "max_incidence": "max_incidence",
}


def _form(saved: SavedSearch | None = None) -> SavedSearchForm:
    form = SavedSearchForm(obj=None)
    form.collections.choices = [
        (c.id, c.local_title)
        for c in db.session.scalars(select(Collection).order_by(Collection.title))
    ]
    from dinamis.webhooks import service as webhooks

    form.webhook_id.choices = [(0, _("none"))] + [
        (w.id, w.description or w.url) for w in webhooks.owned(current_account())
    ]
    return form


def _prefill(form: SavedSearchForm) -> None:
    """A new search from the catalogue's (or the tasking form's) query string."""
    args = request.args
    for given, name in FROM_CATALOGUE.items():
        value = args.get(given, "").strip()
        if not value:
            continue
        field = form[name]
        if name in ("date_from", "date_to"):
            try:
                field.data = dt.date.fromisoformat(value)
            except ValueError:
                continue
            form.when.data = "range"
        elif name in ("max_cloud", "max_incidence"):
            field.process_formdata([value])
            field.errors = []
        else:
            field.data = value
    if args.get("collections"):
        form.collections.data = [args["collections"]]
    if args.get("spectral_mode"):
        form.spectral_modes.data = [args["spectral_mode"]]
    form.stereo_only.data = bool(args.get("stereo"))
    if args.get("from") == "tasking":
        form.name.data = _("Imagery over my tasking area")
    elif args.get("aoi"):
        form.name.data = _("My catalogue search")


def _fill(form: SavedSearchForm, saved: SavedSearch) -> None:
    form.name.data = saved.name
    form.aoi.data = service.search_json(mapping(to_shape(saved.area)))
    form.when.data = "range" if saved.date_to else "from_now"
    form.date_from.data = saved.date_from
    form.date_to.data = saved.date_to
    form.collections.data = list(saved.collections)
    form.max_cloud.data = saved.max_cloud
    form.max_incidence.data = saved.max_incidence
    form.spectral_modes.data = list(saved.spectral_modes)
    form.stereo_only.data = saved.stereo_only
    form.frequency.data = saved.frequency
    form.channel.data = saved.channel
    form.webhook_id.data = saved.webhook_id or 0


def _criteria(form: SavedSearchForm, problems: dict[str, str]) -> service.Criteria | None:
    """The form as the service's criteria; the area's problem added to `problems`."""
    try:
        area = service.area_from_text(form.aoi.data or "")
    except ServiceError as exc:
        problems.update(exc.fields)
        return None
    ranged = form.when.data == "range"
    if ranged and form.date_from.data is None and not form.date_from.errors:
        problems["date_from"] = _("Give the first day, or choose “from now on”.")
        return None
    return service.Criteria(
        name=form.name.data or "",
        area=area,
        date_from=form.date_from.data if ranged else None,
        date_to=form.date_to.data if ranged else None,
        collections=list(form.collections.data or []),
        max_cloud=form.max_cloud.data,
        max_incidence=form.max_incidence.data,
        spectral_modes=list(form.spectral_modes.data or []),
        stereo_only=bool(form.stereo_only.data),
        frequency=form.frequency.data or "",
        channel=form.channel.data or "",
        webhook_id=form.webhook_id.data or None,
    )


@bp.route("/")
@requires(can_save_searches)
def index() -> Any:
    return render_template("alerts/index.html", searches=service.searches_of(current_account()))


def _sent(
    form: SavedSearchForm, saved: SavedSearch | None, act: Callable[[service.Criteria], Any]
) -> Any:
    """The form sent: what `act(criteria)` answers once the form's checks and the criteria
    pass and the service agrees, else the form again (422) with every problem at its field."""
    problems: dict[str, str] = {}
    valid = form.validate()
    criteria = _criteria(form, problems)
    if valid and criteria is not None and not problems:
        try:
            return act(criteria)
        except ServiceError as error:
            problems.update(error.fields or {"name": error.message})
    add_field_errors(form, problems)
    refused_form(form)
    return render_template("alerts/form.html", form=form, saved=saved), 422


@bp.route("/new", methods=["GET", "POST"])
@requires(can_save_searches)
def new() -> Any:
    form = _form()
    if request.method == "GET":
        _prefill(form)
        return render_template("alerts/form.html", form=form, saved=None)

    def save(criteria: service.Criteria) -> Any:
        user = current_account()
        claim = hold_form(form, "alerts.new", user)
        if claim.earlier is not None:
            return show_earlier(claim.earlier, "alerts.index")
        saved = service.save(user, criteria)
        target = url_for("alerts.show", saved_id=saved.id)
        claim.record(saved.name, target)
        flash(_("Search saved: you will be told of the new scenes that match it."), "success")
        return redirect(target)

    return _sent(form, None, save)


@bp.route("/<int:saved_id>")
@requires(can_save_searches)
def show(saved_id: int) -> Any:
    saved = service.get(current_account(), saved_id)
    return render_template(
        "alerts/show.html",
        saved=saved,
        area=mapping(to_shape(saved.area)),
        stac_body=service.stac_body(saved),
        catalogue_args=service.catalogue_args(saved),
        matches=service.recent_matches(saved),
        titles={c.id: c.local_title for c in db.session.scalars(select(Collection))},
    )


@bp.route("/<int:saved_id>/edit", methods=["GET", "POST"])
@requires(can_save_searches)
def edit(saved_id: int) -> Any:
    user = current_account()
    saved = service.get(user, saved_id)
    form = _form(saved)
    if request.method == "GET":
        _fill(form, saved)
        return render_template("alerts/form.html", form=form, saved=saved)

    def change(criteria: service.Criteria) -> Any:
        service.change(user, saved, criteria)
        flash(_("Saved search changed."), "success")
        return redirect(url_for("alerts.show", saved_id=saved.id))

    return _sent(form, saved, change)


@bp.route("/<int:saved_id>/active", methods=["POST"])
@requires(can_save_searches)
def set_active(saved_id: int) -> Any:
    user = current_account()
    saved = service.get(user, saved_id)
    active = request.form.get("active") == "1"
    service.set_active(user, saved, active)
    flash(_("Alerts resumed.") if active else _("Alerts paused."), "success")
    return redirect(url_for("alerts.show", saved_id=saved.id))


@bp.route("/<int:saved_id>/delete", methods=["POST"])
@requires(can_save_searches)
def delete(saved_id: int) -> Any:
    user = current_account()
    saved = service.get(user, saved_id)
    service.remove(user, saved)
    flash(_("Saved search deleted."), "success")
    return redirect(url_for("alerts.index"))


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@public  # the signed token is the authorisation (a link in the member's e-mail)
@csrf.exempt  # one-click from a mail client (RFC 8058): the token cannot be forged
def unsubscribe(token: str) -> Any:
    """GET: the saved search and one button; POST: stop its alerts (or resume them)."""
    saved = service.from_unsubscribe_token(token)
    if request.method == "POST":
        resume = request.form.get("resume") == "1"
        service.set_active(None, saved, resume)
        return render_template("alerts/unsubscribed.html", saved=saved, token=token)
    return render_template("alerts/unsubscribe.html", saved=saved, token=token)


@admin_bp.route("/")
@requires(can_view_alert_activity)
def activity() -> Any:
    return render_template("alerts/activity.html", activity=service.activity(current_account()))
