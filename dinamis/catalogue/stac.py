"""The STAC API (1.0) at /stac: landing, conformance, collections, items, search."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import orjson
from flask import Blueprint, Response, json, render_template, request
from flask_babel import gettext as _
from sqlalchemy import Engine, select

from dinamis import config
from dinamis.api.auth import api_user
from dinamis.catalogue import queryables, search, stac_openapi
from dinamis.catalogue.ingest import COLUMNS, NUMERIC
from dinamis.catalogue.models import Collection, Scene, quicklook_key
from dinamis.catalogue.permissions import Viewer, may_download
from dinamis.catalogue.service import files_of
from dinamis.catalogue.stac_extensions import given_back
from dinamis.core.errors import MalformedInput, NotFound
from dinamis.core.geo import geojson_and_bbox
from dinamis.core.permissions import public
from dinamis.extensions import csrf, db

bp = Blueprint("stac", __name__, url_prefix="/stac")
csrf.exempt(bp)

CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/item-search#fields",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#fields",
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
    "https://api.stacspec.org/v1.0.0-rc.2/ogcapi-features#filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
]
STAC_VERSION = "1.1.0"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
OPENAPI_MEDIA = "application/vnd.oai.openapi+json;version=3.0"
# Always kept by `fields`: what makes the answer a STAC Item at all.
ALWAYS = ("type", "stac_version", "id", "links")


def _orjson_default(value: Any) -> Any:
    raise TypeError  # a datetime, a Decimal...: Flask's encoder decides


def _json(body: Any, media: str = "application/json", status: int = 200) -> Response:
    """The body as JSON, keys sorted as Flask sorts them.

    orjson encodes the plain data of STAC pages several times faster than the
    standard library; what it would write differently from Flask (datetimes,
    Decimals, integers beyond 64 bits...) it refuses, and Flask's encoder does it.
    """
    try:
        data: bytes | str = orjson.dumps(
            body,
            default=_orjson_default,
            option=orjson.OPT_SORT_KEYS
            | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS,
        )
    except TypeError:  # orjson.JSONEncodeError
        data = json.dumps(body)
    return Response(data, status=status, mimetype=media)


def _root() -> str:
    base = config.current().base_url
    return base + "/stac"


def collection_json(collection: Collection) -> dict[str, Any]:
    root = _root()
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": collection.id,
        "title": collection.title,
        "description": collection.description or collection.title,
        "license": collection.licence_code,
        "extent": collection.extra.get("extent")
        or {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
        "dinamis:access": collection.access,
        "links": [
            {
                "rel": "self",
                "href": f"{root}/collections/{collection.id}",
                "type": "application/json",
            },
            {
                "rel": "items",
                "href": f"{root}/collections/{collection.id}/items",
                "type": "application/geo+json",
            },
            {"rel": "parent", "href": root, "type": "application/json"},
            {"rel": "root", "href": root, "type": "application/json"},
            {
                "rel": QUERYABLES_REL,
                "href": f"{root}/collections/{collection.id}/queryables",
                "type": "application/schema+json",
            },
        ]
        + ([{"rel": "license", "href": collection.licence_url}] if collection.licence_url else []),
    }


def _assets(scene: Any, may_download: bool, base: str, quoted_id: str) -> dict[str, Any]:
    """The quicklook for everyone; file links only for those who may download them."""
    scene_url = f"{base}/catalogue/scenes/{quoted_id}"
    assets: dict[str, Any] = {}
    raw = scene.assets or {}
    if scene.quicklook:
        key = quicklook_key(raw) or "thumbnail"
        given: dict[str, Any] = raw[key] if isinstance(raw.get(key), dict) else {}
        assets[key] = {
            "type": "image/png",
            "roles": ["thumbnail"],
            **given,
            "href": f"{scene_url}/quicklook",
        }
    if may_download:
        for file in files_of(scene):
            assets[file.key] = {
                **raw[file.key],
                "href": f"{scene_url}/files/{quote(file.key, safe='')}",
            }
    return assets


@lru_cache(maxsize=256)
def _collection_href(root: str, collection_id: str) -> str:
    """A collection's address: the same for every item of a page (a few collections)."""
    return f"{root}/collections/{quote(collection_id, safe='')}"


def _item(scene: Any, may_download: bool, base: str) -> dict[str, Any]:
    """The STAC Item of a scene (a Scene, or a row of search.ROW_COLUMNS)."""
    root = base + "/stac"
    collection = _collection_href(root, scene.collection_id)
    quoted_id = quote(scene.id, safe="")
    geometry, bbox = geojson_and_bbox(scene.footprint.data)
    properties: dict[str, Any] = {"datetime": scene.datetime.isoformat()}
    for key, column in COLUMNS.items():
        value = getattr(scene, column)
        if value is not None:
            properties[key] = float(value) if column in NUMERIC else value
    properties.update(scene.properties or {})
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": given_back(scene.stac_extensions),
        "id": scene.id,
        "collection": scene.collection_id,
        "geometry": geometry,
        "bbox": bbox,
        "properties": properties,
        "assets": _assets(scene, may_download, base, quoted_id),
        "links": [
            {
                "rel": "self",
                "href": f"{collection}/items/{quoted_id}",
                "type": "application/geo+json",
            },
            {"rel": "parent", "href": collection, "type": "application/json"},
            {"rel": "collection", "href": collection, "type": "application/json"},
            {"rel": "root", "href": root, "type": "application/json"},
            *_derived_from(scene, root),  # a surface model's source scenes (dsm)
        ],
    }


def _derived_from(scene: Any, root: str) -> list[dict[str, Any]]:
    from dinamis.dsm.service import derived_links

    return derived_links(scene, root)


def item_json(scene: Scene, viewer: Viewer = None) -> dict[str, Any]:
    """The scene as a STAC Item; `viewer` (a user, or None for anonymous) sets the asset links."""
    base = config.current().base_url
    return _item(scene, may_download(viewer, scene.collection), base)


@bp.route("", strict_slashes=False)
@public
def landing() -> Any:
    root = _root()
    links = [
        {"rel": "self", "href": root, "type": "application/json"},
        {"rel": "root", "href": root, "type": "application/json"},
        {"rel": "conformance", "href": f"{root}/conformance", "type": "application/json"},
        {"rel": "data", "href": f"{root}/collections", "type": "application/json"},
        {"rel": "service-desc", "href": f"{root}/api", "type": OPENAPI_MEDIA},
        {"rel": "service-doc", "href": f"{root}/api.html", "type": "text/html"},
        {"rel": QUERYABLES_REL, "href": f"{root}/queryables", "type": "application/schema+json"},
        {
            "rel": "search",
            "href": f"{root}/search",
            "type": "application/geo+json",
            "method": "GET",
        },
        {
            "rel": "search",
            "href": f"{root}/search",
            "type": "application/geo+json",
            "method": "POST",
        },
    ]
    for collection in db.session.scalars(select(Collection).order_by(Collection.id)):
        links.append(
            {
                "rel": "child",
                "href": f"{root}/collections/{collection.id}",
                "type": "application/json",
                "title": collection.title,
            }
        )
    return _json(
        {
            "type": "Catalog",
            "stac_version": STAC_VERSION,
            "id": "dinamis",
            "title": "Dinamis",
            "description": "Very-high-resolution satellite imagery for public institutions",
            "conformsTo": CONFORMANCE,
            "links": links,
        }
    )


@bp.route("/conformance", strict_slashes=False)
@public
def conformance() -> Any:
    return _json({"conformsTo": CONFORMANCE})


@bp.route("/api", strict_slashes=False)
@public
def service_desc() -> Any:
    """The OpenAPI 3.0 document of the STAC API (its landing page's service-desc)."""
    return _json(stac_openapi.document(_root()), media=OPENAPI_MEDIA)


@bp.route("/api.html")
@public
def service_doc() -> Any:
    """The same document for people (the landing page's service-doc)."""
    return render_template("catalogue/stac_api.html", **stac_openapi.reference(_root()))


@bp.route("/collections", strict_slashes=False)
@public
def collections() -> Any:
    root = _root()
    rows = db.session.scalars(select(Collection).order_by(Collection.id))
    links = [
        {"rel": "self", "href": f"{root}/collections", "type": "application/json"},
        {"rel": "root", "href": root, "type": "application/json"},
        {"rel": "parent", "href": root, "type": "application/json"},
    ]
    return _json({"collections": [collection_json(c) for c in rows], "links": links})


@bp.route("/collections/<collection_id>", strict_slashes=False)
@public
def collection(collection_id: str) -> Any:
    found = db.session.get(Collection, collection_id)
    if found is None:
        raise NotFound(_("There is no collection %(id)s.", id=collection_id[:100]))
    return _json(collection_json(found))


def parse_fields(value: Any) -> tuple[list[str], list[str]]:
    """`fields=id,properties.eo:cloud_cover,-assets` (GET) or {"include": [], "exclude": []}."""
    include: list[str] = []
    exclude: list[str] = []
    if isinstance(value, str):
        for part in (p.strip() for p in value.split(",")):
            if part.startswith("-"):
                exclude.append(part[1:])
            elif part:
                include.append(part.lstrip("+"))
    elif isinstance(value, dict) and set(value) <= {"include", "exclude"}:
        for name, target in (("include", include), ("exclude", exclude)):
            given = value.get(name) or []
            if not isinstance(given, list) or not all(isinstance(f, str) for f in given):
                raise MalformedInput(_("fields.%(name)s must be a list of field names.", name=name))
            target.extend(given)
    else:
        raise MalformedInput(_('fields must be {"include": [...], "exclude": [...]}.'))
    return include, exclude


def _split(path: str) -> tuple[str, str | None]:
    top, _dot, rest = path.partition(".")
    return top, rest or None


def apply_fields(item: dict[str, Any], include: list[str], exclude: list[str]) -> dict[str, Any]:
    """The Fields extension: keep what is included, then drop what is excluded."""
    if include:
        kept: dict[str, Any] = {k: item[k] for k in ALWAYS if k in item}
        for path in include:
            top, rest = _split(path)
            if top not in item:
                continue
            if rest is None:
                kept[top] = item[top]
            elif isinstance(item[top], dict) and rest in item[top]:
                branch = kept.setdefault(top, {})
                if isinstance(branch, dict) and branch is not item[top]:
                    branch[rest] = item[top][rest]
        item = kept
    for path in exclude:
        top, rest = _split(path)
        if top in ALWAYS and rest is None:
            continue
        if rest is None:
            item.pop(top, None)
        elif isinstance(item.get(top), dict):
            item[top] = {k: v for k, v in item[top].items() if k != rest}
    return item


# The page's collections' access rules; built once (the ids are a bound parameter).
class _Rule(NamedTuple):
    """A collection's access rule as a page's rows carry it (search.ROW_COLUMNS)."""

    access: str
    profiles: list[str] | None


def _outside_transaction() -> None:
    """Read a page outside a transaction (autocommit): a page is one statement, and BEGIN
    and COMMIT were two of the four round trips of each page. Not when the session has
    begun, or is bound to a connection of its own (tests: one transaction each)."""
    if isinstance(db.session.get_bind(), Engine) and not db.session.in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def _page_link(rel: str, href: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
    """A link to this page (`token` None) or to the one after or before it: a GET with the
    same query string, or the same POST body, with the page's token."""
    link: dict[str, Any] = {"rel": rel, "type": "application/geo+json"}
    if request.method == "POST":
        body = {k: v for k, v in params.items() if k != "token"}
        if token:
            body["token"] = token
        link.update({"href": href, "method": "POST", "body": body, "merge": False})
        return link
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    if token:
        args.append(("token", token))
    link["href"] = f"{href}?{urlencode(args)}" if args else href
    return link


def _page(params: dict[str, Any], href: str, parent: str | None = None) -> Response:
    """A page of items: of the search (GET or POST), or of a collection (`parent`)."""
    query = search.parse(params, body=request.method == "POST")
    include, exclude = parse_fields(params["fields"]) if params.get("fields") else ([], [])
    _outside_transaction()
    # numberMatched only when the page holds every match: an exact count of a broad
    # search takes 0.1-1 s at a million scenes (the portal still counts, up to MATCH_CAP).
    # Plain rows, not Scene objects: the page only reads them.
    page = search.run_page(query, count=False, rows=True)
    scenes = page.rows
    viewer = api_user()  # STAC clients authenticate with a bearer token, never the session
    # The rows carry their collection's access rule, which decides the asset links;
    # it is applied once per collection, not once per scene.
    rules = {s.collection_id: _Rule(s.collection_access, s.collection_profiles) for s in scenes}
    allowed = {collection: may_download(viewer, rule) for collection, rule in rules.items()}
    base = config.current().base_url
    root = _root()
    links = [
        _page_link("self", href, params, params.get("token")),
        {"rel": "root", "href": root, "type": "application/json"},
    ]
    if parent:
        links.append({"rel": "parent", "href": parent, "type": "application/json"})
        links.append({"rel": "collection", "href": parent, "type": "application/json"})
    if page.next:
        links.append(_page_link("next", href, params, page.next))
    if page.prev:
        links.append(_page_link("prev", href, params, page.prev))
    body: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            apply_fields(_item(s, allowed[s.collection_id], base), include, exclude) for s in scenes
        ],
        "numberReturned": len(scenes),
        "links": links,
    }
    if page.matched is not None:
        body["numberMatched"] = page.matched
    return _json(body, media="application/geo+json")


@bp.route("/collections/<collection_id>/items", strict_slashes=False)
@public
def items(collection_id: str) -> Any:
    if db.session.get(Collection, collection_id) is None:
        raise NotFound(_("There is no collection %(id)s.", id=collection_id[:100]))
    params = {**request.args.to_dict(), "collections": collection_id}
    collection = f"{_root()}/collections/{quote(collection_id, safe='')}"
    return _page(params, f"{collection}/items", parent=collection)


@bp.route("/queryables", strict_slashes=False)
@public
def queryables_all() -> Any:
    return _json(queryables.document(_root()), media="application/schema+json")


@bp.route("/collections/<collection_id>/queryables", strict_slashes=False)
@public
def collection_queryables(collection_id: str) -> Any:
    if db.session.get(Collection, collection_id) is None:
        raise NotFound(_("There is no collection %(id)s.", id=collection_id[:100]))
    return _json(queryables.document(_root(), collection_id), media="application/schema+json")


@bp.route("/collections/<collection_id>/items/<item_id>", strict_slashes=False)
@public
def item(collection_id: str, item_id: str) -> Any:
    scene = db.session.get(Scene, item_id)
    if scene is None or scene.collection_id != collection_id:
        raise NotFound(
            _("There is no item %(id)s in %(c)s.", id=item_id[:100], c=collection_id[:100])
        )
    return _json(item_json(scene, api_user()), media="application/geo+json")


@bp.route("/search", methods=["GET", "POST"], strict_slashes=False)
@public
def search_items() -> Any:
    href = f"{_root()}/search"
    if request.method == "POST":
        try:
            data = request.get_json(silent=True)
        except RecursionError:  # nesting deeper than the JSON parser goes
            data = None
        if not isinstance(data, dict):
            raise MalformedInput(_("The body must be a JSON object of search parameters."))
        return _page(data, href)
    return _page(request.args.to_dict(), href)
