"""The catalogue on the web: search, scene pages, quicklooks, licences, downloads, basket."""

from __future__ import annotations

import datetime as dt
import mimetypes
import shlex
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wsgi import wrap_file

from dinamis import config
from dinamis.accounts.permissions import is_signed_in
from dinamis.catalogue import coverage, search, service
from dinamis.catalogue.ingest import COLUMNS
from dinamis.catalogue.models import Collection, DownloadVia, Scene
from dinamis.catalogue.permissions import Viewer, may_download, refusal
from dinamis.catalogue.queryables import PROCESSING_LEVELS, SPECTRAL_MODES
from dinamis.catalogue.service import Visit
from dinamis.catalogue.stac import item_json
from dinamis.catalogue.storage import StorageError, storage
from dinamis.core.errors import BadRequest, Forbidden, NotFound, ServiceError
from dinamis.core.exports import content_disposition
from dinamis.core.formats import localise
from dinamis.core.geo import geodesic_km2, to_geojson
from dinamis.core.geo_files import MAX_UPLOAD, read_aoi_file
from dinamis.core.i18n import current_language
from dinamis.core.labels import label
from dinamis.core.loading import get_or_404
from dinamis.core.permissions import public
from dinamis.core.web import safe_next
from dinamis.extensions import db, login_manager
from dinamis.membership.models import Profile
from dinamis.orders.archive import why_not_orderable
from dinamis.orders.permissions import can_order

bp = Blueprint("catalogue", __name__, url_prefix="/catalogue")

# An anonymous visitor's licences and basket live in their Flask session, read and
# written here only; services get and change a `Visit`.
SESSION_LICENCES = "licences"
SESSION_BASKET = "basket"


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def current_visit() -> Visit:
    """The anonymous visitor's licences and basket, as this browser's session keeps them."""
    return Visit(
        licences=_strings(session.get(SESSION_LICENCES)),
        basket=_strings(session.get(SESSION_BASKET)),
    )


def keep_visit(visit: Visit) -> None:
    """Write back into the session what a service changed in the visit."""
    if visit.licences != _strings(session.get(SESSION_LICENCES)):
        session[SESSION_LICENCES] = visit.licences
    if visit.basket != _strings(session.get(SESSION_BASKET)):
        if visit.basket:
            session[SESSION_BASKET] = visit.basket
        else:
            session.pop(SESSION_BASKET, None)


# The search form's sort choices, and the STAC sort each stands for.
SORTS = ("", "+datetime", "+eo:cloud_cover", "+view:incidence_angle")


@dataclass(frozen=True)
class SearchForm:
    """The search form as the page shows it: what was typed (to fill it in again), what is
    wrong with each field (`_search_form`'s words) and the choices it offers."""

    args: dict[str, str]
    errors: dict[str, str]
    collections: list[Collection]
    levels: tuple[str, ...] = PROCESSING_LEVELS
    modes: tuple[str, ...] = SPECTRAL_MODES


def _search_form(
    args: dict[str, str], collections: list[Collection]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The search form read as the catalogue's search parameters, and what is wrong
    with each field, in the words of its label (the STAC API keeps its own)."""
    params: dict[str, Any] = {"limit": 20}
    errors: dict[str, str] = {}
    if args.get("aoi", "").strip():
        try:
            # GeoJSON (a polygon, or a point or a line to search along), or a point
            # or a box typed as numbers (the message then says how to type them)
            params.update(search.portal_area(args["aoi"])[0])
        except ServiceError as exc:
            errors["aoi"] = exc.message
    days: dict[str, dt.date] = {}
    for name in ("start", "end"):
        if args.get(name):
            try:
                days[name] = dt.date.fromisoformat(args[name])
            except ValueError:
                errors[name] = _("Enter a date, as the calendar gives it.")
    if "start" in days and "end" in days and days["end"] < days["start"]:
        errors["end"] = _("The end date is before the start date.")
    elif days:
        start = f"{days['start'].isoformat()}T00:00:00Z" if "start" in days else ".."
        end = f"{days['end'].isoformat()}T23:59:59Z" if "end" in days else ".."
        params["datetime"] = f"{start}/{end}"
    for name, high in (("max_cloud", 100), ("max_incidence", 90)):
        if args.get(name, "").strip():
            try:
                value = Decimal(args[name].strip().replace(",", "."))
            except InvalidOperation:
                value = None
            if value is None or not value.is_finite() or not 0 <= value <= high:
                errors[name] = _("Enter a number between 0 and %(n)d.", n=high)
            else:
                params[name] = str(value)
    choices = {
        "collections": {c.id for c in collections},
        "processing_level": set(PROCESSING_LEVELS),
        "spectral_mode": set(SPECTRAL_MODES),
        "sortby": set(SORTS),
    }
    for name, allowed in choices.items():
        if args.get(name):
            if args[name] in allowed:
                params[name] = args[name]
            else:
                errors[name] = _("Choose one of the listed values.")
    for name in ("stereo", "token"):
        if args.get(name):
            params[name] = args[name]
    return params, errors


@bp.route("/")
@public
def index() -> Any:
    """Anonymous browsing: the search form, a page of results and their footprints."""
    collections = list(db.session.scalars(select(Collection).order_by(Collection.title)))
    args = request.args.to_dict()
    params, field_errors = _search_form(args, collections)
    error = None
    page = search.Page(rows=[], matched=0, next=None, prev=None)
    covered = None
    if not field_errors:
        try:
            query = search.parse(params)
            page = search.run_page(query)
            # The union of the footprints when they are few, a grid of points else.
            covered = coverage.for_search(query, page.matched)
        except ServiceError:
            # Every field was checked above: what is left is a page token made
            # for another search (a link kept from before, a changed sort).
            error = _("This page of results belongs to another search; search again.")
    return (
        render_template(
            "catalogue/index.html",
            form=SearchForm(args, field_errors, collections),
            page=page,
            match_cap=search.MATCH_CAP,
            error=error,
            coverage=covered,
            in_basket=set(service.basket_ids(current_user, current_visit())),
            features=service.footprints(page.rows),
        ),
        400 if error or field_errors else 200,
    )


# The scene's metadata for people: each STAC property the catalogue knows by its
# label, with its unit; the properties given at ingest that it does not know are
# listed apart, as given.
SCENE_FACTS: tuple[tuple[str, Any, str], ...] = (
    ("datetime", _l("Acquired on"), ""),
    ("platform", _l("Platform"), ""),
    ("constellation", _l("Constellation"), ""),
    ("eo:cloud_cover", _l("Cloud cover"), " %"),
    ("view:incidence_angle", _l("Incidence angle"), "°"),
    ("view:sun_elevation", _l("Sun elevation"), "°"),
    ("view:sun_azimuth", _l("Sun azimuth"), "°"),
    ("gsd", _l("Ground sample distance"), " m"),
    ("processing:level", _l("Processing level"), ""),
    ("dinamis:spectral_mode", _l("Spectral mode"), ""),
    ("dinamis:stereo_group", _l("Stereo group"), ""),
)


def _scene_facts(
    scene: Scene, properties: dict[str, Any]
) -> tuple[list[tuple[str, str]], list[tuple[str, Any]]]:
    columns = {"datetime": "datetime", **COLUMNS}
    facts = []
    for key, name, unit in SCENE_FACTS:
        value = getattr(scene, columns[key], None)
        if value is None:
            continue
        if key in ("processing:level", "dinamis:spectral_mode"):
            value = label(value)
        shown = localise(value) if not isinstance(value, str) else value
        facts.append((str(name), f"{shown}{unit}"))
    others = [(k, v) for k, v in properties.items() if k not in columns]
    return facts, others


@bp.route("/scenes/<scene_id>")
@public
def scene(scene_id: str) -> Any:
    found = get_or_404(Scene, scene_id)
    stac = item_json(found, current_user)
    companions: list[Scene] = []
    if found.stereo_group:
        companions = list(
            db.session.scalars(
                select(Scene)
                .where(Scene.stereo_group == found.stereo_group, Scene.id != found.id)
                .order_by(Scene.datetime)
            )
        )
    visit = current_visit()
    files = service.file_states(current_user, found, visit)
    orderer = current_user if can_order(current_user) else None
    facts, others = _scene_facts(found, stac["properties"])
    return render_template(
        "catalogue/scene.html",
        scene=found,
        stac=stac,
        facts=facts,
        other_properties=others,
        companions=companions,
        files=files,
        in_basket=found.id in service.basket_ids(current_user, visit),
        may_order=orderer is not None,
        not_orderable=why_not_orderable(orderer, found) if orderer is not None else None,
    )


@bp.route("/aoi", methods=["POST"])
@public  # anyone may search by an uploaded area; nothing is stored
def aoi_upload() -> Any:
    """An uploaded GeoJSON, KML/KMZ or zipped shapefile as GeoJSON, with its geodesic area."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest(_("Choose a file to upload."))
    area = read_aoi_file(upload.filename, upload.stream.read(MAX_UPLOAD + 1))
    return jsonify({"geometry": to_geojson(area), "area_km2": str(geodesic_km2(area))})


@bp.route("/scenes/<scene_id>/quicklook")
@public
def quicklook(scene_id: str) -> Any:
    """Quicklooks are public, like footprints and metadata."""
    path = service.quicklook_path(scene_id)
    try:
        handle = storage().open(path)
    except StorageError:
        raise NotFound(_("This scene has no quicklook.")) from None
    media = mimetypes.guess_type(path)[0] or "image/png"
    if not media.startswith("image/"):
        media = "application/octet-stream"
    response = send_file(handle, mimetype=media, conditional=True, max_age=86400)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def _requester() -> Viewer:
    """The bearer of an API token when the request carries one, else the session's user."""
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        from dinamis.api.auth import api_user

        user = api_user()
        if not user.is_authenticated:
            abort(401)
        return user
    return current_user


def _stream(file: service.File, user: Viewer, via: str) -> Response:
    """The file, whole or the asked Range (206, or 416), logged when bytes go out."""
    store = storage()
    try:
        size = store.stat(file.path).size
        handle = store.open(file.path)
    except StorageError:
        current_app.logger.error("file missing from the store: %s", file.path)
        raise NotFound(
            _(
                "The file %(name)s is missing from the store; please tell the support.",
                name=file.filename,
            )
        ) from None
    response = Response(
        wrap_file(request.environ, handle),
        mimetype=file.media_type,
        direct_passthrough=True,
    )
    response.content_length = size
    response.headers["Content-Disposition"] = content_disposition(file.filename)
    if file.checksum:
        response.set_etag(file.checksum)
    try:  # answers the Range header: 206 with the part, or 416
        response.make_conditional(request.environ, accept_ranges=True, complete_length=size)
    except RequestedRangeNotSatisfiable:
        handle.close()
        raise
    response.headers["Cache-Control"] = "private, no-store"
    if request.method == "GET" and response.status_code in (200, 206):
        service.log(
            user,
            file,
            response.content_length or 0,
            ranged=response.status_code == 206,
            via=via,
        )
    return response


@bp.route("/scenes/<scene_id>/files/<key>")
@public  # open data is for everyone; `service.authorise` decides per file
def download(scene_id: str, key: str) -> Any:
    user = _requester()
    file = service.file_of(scene_id, key)
    try:
        service.authorise(user, file, current_visit())
    except service.LicenceRequired as exc:
        if user is current_user and not request.is_json:
            return redirect(
                url_for(
                    "catalogue.licence",
                    collection_id=exc.collection.id,
                    next=request.full_path.rstrip("?"),
                )
            )
        raise
    except Forbidden:
        if user is current_user and not is_signed_in(user):
            return login_manager.unauthorized()
        raise
    return _stream(file, user, DownloadVia.WEB)


@bp.route("/licences/<collection_id>", methods=["GET", "POST"])
@public  # anyone may read a licence; accepting one is checked in `accept_licence`
def licence(collection_id: str) -> Any:
    collection = get_or_404(Collection, collection_id)
    target = safe_next(request.values.get("next"), "catalogue.index")
    allowed = may_download(current_user, collection)
    visit = current_visit()
    if request.method == "POST":
        service.accept_licence(current_user, collection, visit)
        keep_visit(visit)
        flash(
            _("Licence accepted: you can download the files of %(c)s.", c=collection.local_title),
            "success",
        )
        return redirect(target)
    return render_template(
        "catalogue/licence.html",
        collection=collection,
        profile_names=[
            p.name(current_language())
            for p in db.session.scalars(
                select(Profile).where(Profile.code.in_(collection.profiles)).order_by(Profile.code)
            )
        ],
        accepted=service.licence_accepted(current_user, collection, visit),
        allowed=allowed,
        refusal=None if allowed else refusal(current_user, collection),
        next=target,
    )


@bp.route("/dl/<token>")
@public  # the signed token is the authorisation; rights are checked again in `read_link`
def signed_download(token: str) -> Any:
    file, user = service.read_link(token, current_visit())
    return _stream(file, user, DownloadVia.LINK)


@bp.route("/basket")
@public
def basket() -> Any:
    visit = current_visit()
    lines = service.basket_lines(current_user, visit)
    return render_template(
        "catalogue/basket.html",
        scenes=service.basket_scenes(current_user, visit),
        lines=lines,
        ready=[line for line in lines if line.token],
        may_order=can_order(current_user),
        ttl_hours=config.current().download_link_ttl // 3600,
    )


@bp.route("/basket/add", methods=["POST"])
@public
def basket_add() -> Any:
    """One scene (`scene_id`: a scene's page, a row of the results), or every scene of a
    page of results (`all`, with the page's `page_scene` ids)."""
    form = request.form
    wanted = form.getlist("page_scene") if form.get("all") else form.getlist("scene_id")
    visit = current_visit()
    added = service.basket_add(current_user, visit, wanted[: service.MAX_ADD])
    keep_visit(visit)
    if len(wanted) == 1:
        flash(_("%(id)s is in your basket.", id=wanted[0]), "success")
    elif added:
        flash(_("%(n)d scene(s) added to your basket.", n=len(added)), "success")
    else:
        flash(_("These scenes were already in your basket."), "success")
    return redirect(safe_next(form.get("next"), "catalogue.basket"))


@bp.route("/basket/remove", methods=["POST"])
@public
def basket_remove() -> Any:
    visit = current_visit()
    service.basket_remove(current_user, visit, request.form.get("scene_id", ""))
    keep_visit(visit)
    return redirect(safe_next(request.form.get("next"), "catalogue.basket"))


@bp.route("/basket/clear", methods=["POST"])
@public
def basket_clear() -> Any:
    visit = current_visit()
    service.basket_clear(current_user, visit)
    keep_visit(visit)
    return redirect(url_for("catalogue.basket"))


def _links() -> list[tuple[str, service.BasketLine]]:
    lines = [line for line in service.basket_lines(current_user, current_visit()) if line.token]
    if not lines:
        raise ServiceError(_("Nothing in the basket can be downloaded yet."))
    return [
        (url_for("catalogue.signed_download", token=line.token, _external=True), line)
        for line in lines
    ]


@bp.route("/basket/links.txt")
@public
def basket_links() -> Any:
    body = "".join(f"{url}\n" for url, _line in _links())
    return Response(
        body,
        mimetype="text/plain",
        headers={"Content-Disposition": content_disposition("dinamis-links.txt")},
    )


@bp.route("/basket/download.sh")
@public
def basket_script() -> Any:
    # Every value is quoted for the shell: file names come from ingested items.
    links = [
        (
            shlex.quote(url),
            shlex.quote(f"{line.file.scene.id}/{line.file.filename}"),
            line.file.sha256,
        )
        for url, line in _links()
    ]
    script = render_template("catalogue/download.sh", links=links)
    return Response(
        script,
        mimetype="text/x-shellscript",
        headers={"Content-Disposition": content_disposition("dinamis-download.sh")},
    )
