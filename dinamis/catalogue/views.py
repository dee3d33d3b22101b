"""The catalogue on the web: search by area, dates, collection and cloud; scene pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import select

from dinamis.catalogue import search
from dinamis.catalogue.models import Collection, Scene
from dinamis.catalogue.queryables import PROCESSING_LEVELS, SPECTRAL_MODES
from dinamis.catalogue.stac import item_json
from dinamis.core.errors import ServiceError
from dinamis.core.permissions import public
from dinamis.extensions import db

bp = Blueprint("catalogue", __name__, url_prefix="/catalogue")


@bp.route("/")
@public
def index() -> Any:
    """Anonymous browsing: the search form, a page of results and their footprints."""
    collections = list(db.session.scalars(select(Collection).order_by(Collection.title)))
    args = request.args.to_dict()
    params: dict[str, Any] = {"limit": 20}
    if args.get("aoi"):
        params["intersects"] = args["aoi"]
    if args.get("start") or args.get("end"):
        start = f"{args['start']}T00:00:00Z" if args.get("start") else ".."
        end = f"{args['end']}T23:59:59Z" if args.get("end") else ".."
        params["datetime"] = f"{start}/{end}"
    for key in (
        "collections",
        "max_cloud",
        "max_incidence",
        "processing_level",
        "spectral_mode",
        "stereo",
        "sortby",
        "token",
    ):
        if args.get(key):
            params[key] = args[key]
    error = None
    scenes: list[Scene] = []
    matched: int | None = 0
    token = None
    try:
        scenes, matched, token = search.run(search.parse(params))
    except ServiceError as exc:
        error = exc.message
    features = [
        {
            "type": "Feature",
            "id": s.id,
            "geometry": mapping(to_shape(s.footprint)),
            "properties": {},
        }
        for s in scenes
    ]
    return (
        render_template(
            "catalogue/index.html",
            collections=collections,
            scenes=scenes,
            matched=matched,
            match_cap=search.MATCH_CAP,
            levels=PROCESSING_LEVELS,
            modes=SPECTRAL_MODES,
            token=token,
            args=args,
            error=error,
            features={"type": "FeatureCollection", "features": features},
        ),
        400 if error else 200,
    )


@bp.route("/scenes/<scene_id>")
@public
def scene(scene_id: str) -> Any:
    found = db.session.get(Scene, scene_id)
    if found is None:
        abort(404)
    stac = item_json(found)
    companions: list[Scene] = []
    if found.stereo_group:
        companions = list(
            db.session.scalars(
                select(Scene)
                .where(Scene.stereo_group == found.stereo_group, Scene.id != found.id)
                .order_by(Scene.datetime)
            )
        )
    return render_template("catalogue/scene.html", scene=found, stac=stac, companions=companions)
