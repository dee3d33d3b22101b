"""The OpenAPI 3.0 document of the STAC API at /stac (its landing page's service-desc).

Separate from the JSON API's document (/api/v1/openapi.json): STAC clients and
the STAC API validator read this one. It is written here, from the same
constants as the API (page size, queryables, conformance), and served by the
app: nothing is fetched from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dinamis.catalogue import search
from dinamis.catalogue.queryables import SORTABLE

GEOJSON = "application/geo+json"


def N_(text: str) -> str:
    """Marks a text for translation without translating it: the document is in English,
    the service-doc page shows it in the reader's language."""
    return text


JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, schema: str, media: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": _ref(schema)}}}


ERRORS = {
    "400": _answer(
        "The query is malformed or not supported; the description says why", "Exception"
    ),
    "500": _answer("An error on the server's side", "Exception"),
}
NOT_FOUND = {"404": _answer("No such collection or item", "Exception")}


def _param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    parameter: dict[str, Any] = {
        "name": name,
        "in": where,
        "schema": schema,
        "description": description,
    }
    if where == "path":
        parameter["required"] = True
    else:
        parameter["style"] = "form"
        parameter["explode"] = False
    return parameter


COLLECTION_ID = _param("collectionId", "path", {"type": "string"}, N_("a collection's id"))
ITEM_ID = _param("itemId", "path", {"type": "string"}, N_("an item's id"))
SEARCH_PARAMETERS = [
    _param(
        "bbox",
        "query",
        {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 6},
        N_("west,south,east,north (CRS84): the items meeting this box"),
    ),
    _param(
        "intersects",
        "query",
        {"type": "string"},
        N_(
            "a GeoJSON geometry of any type (Point to GeometryCollection): the items meeting"
            " it; not with bbox"
        ),
    ),
    _param(
        "datetime",
        "query",
        {"type": "string"},
        N_("an RFC 3339 date-time, or an interval start/end with .. for one open end"),
    ),
    _param(
        "ids", "query", {"type": "array", "items": {"type": "string"}}, N_("only these item ids")
    ),
    _param(
        "collections",
        "query",
        {"type": "array", "items": {"type": "string"}},
        N_("only the items of these collections"),
    ),
    _param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": search.MAX_LIMIT, "default": 10},
        N_("items per page, from 1; more than the maximum (1000) gives the maximum"),
    ),
    _param(
        "sortby",
        "query",
        {"type": "string"},
        N_("comma-separated queryables, each + (ascending, the default) or - (descending)"),
    ),
    _param(
        "fields",
        "query",
        {"type": "string"},
        N_("fields to include, or to exclude with a - prefix"),
    ),
    _param(
        "filter",
        "query",
        {"type": "string"},
        N_("a CQL2 filter on the queryables (text, or JSON with filter-lang=cql2-json)"),
    ),
    _param(
        "filter-lang",
        "query",
        {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
        N_("the language of filter"),
    ),
    _param(
        "filter-crs",
        "query",
        {"type": "string", "enum": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]},
        N_("the coordinate system of the filter's geometries (CRS84 only)"),
    ),
    _param("token", "query", {"type": "string"}, N_("a page token, from a next or prev link")),
]
ITEMS_PARAMETERS = [
    p for p in SEARCH_PARAMETERS if p["name"] not in ("intersects", "ids", "collections")
]


def _catalog_fields(kind: str, **more: dict[str, Any]) -> dict[str, Any]:
    """The properties of a STAC Catalog (`kind`), and of a Collection, which extends it."""
    return {
        "type": {"type": "string", "enum": [kind]},
        "stac_version": {"type": "string"},
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        **more,
    }


SCHEMAS: dict[str, Any] = {
    "Exception": {
        "type": "object",
        "required": ["code"],
        "properties": {
            "code": {"type": "string", "example": "bad_request"},
            "description": {"type": "string"},
        },
    },
    "Link": {
        "type": "object",
        "required": ["href", "rel"],
        "properties": {
            "href": {"type": "string", "format": "uri"},
            "rel": {"type": "string"},
            "type": {"type": "string"},
            "title": {"type": "string"},
            "method": {"type": "string", "enum": ["GET", "POST"]},
            "body": {"type": "object"},
            "merge": {"type": "boolean"},
        },
    },
    "Links": {"type": "array", "items": _ref("Link")},
    "LandingPage": {
        "type": "object",
        "required": ["type", "id", "description", "conformsTo", "links"],
        "properties": _catalog_fields(
            "Catalog",
            conformsTo={"type": "array", "items": {"type": "string"}},
            links=_ref("Links"),
        ),
    },
    "Conformance": {
        "type": "object",
        "required": ["conformsTo"],
        "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
    },
    "Collection": {
        "type": "object",
        "required": ["type", "id", "description", "license", "extent", "links"],
        "properties": _catalog_fields(
            "Collection",
            license={"type": "string"},
            extent={"type": "object"},
            links=_ref("Links"),
        ),
    },
    "Collections": {
        "type": "object",
        "required": ["collections", "links"],
        "properties": {
            "collections": {"type": "array", "items": _ref("Collection")},
            "links": _ref("Links"),
        },
    },
    "Item": {
        "type": "object",
        "required": ["type", "id", "geometry", "properties", "links", "assets"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "stac_version": {"type": "string"},
            "stac_extensions": {"type": "array", "items": {"type": "string"}},
            "id": {"type": "string"},
            "collection": {"type": "string"},
            "geometry": {"type": "object"},
            "bbox": {"type": "array", "items": {"type": "number"}},
            "properties": {"type": "object"},
            "assets": {"type": "object"},
            "links": _ref("Links"),
        },
    },
    "ItemCollection": {
        "type": "object",
        "required": ["type", "features", "links"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": _ref("Item")},
            "numberReturned": {"type": "integer", "minimum": 0},
            "numberMatched": {
                "type": "integer",
                "minimum": 0,
                "description": "given when the page holds every match",
            },
            "links": _ref("Links"),
        },
    },
    "SearchBody": {
        "type": "object",
        "properties": {
            "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 6},
            "intersects": {"type": "object", "description": "a GeoJSON geometry of any type"},
            "datetime": {"type": "string"},
            "ids": {"type": "array", "items": {"type": "string"}},
            "collections": {"type": "array", "items": {"type": "string"}},
            "limit": {
                "type": "integer",
                "minimum": 1,
                "description": f"above {search.MAX_LIMIT}: {search.MAX_LIMIT}",
                "default": 10,
            },
            "sortby": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field"],
                    "properties": {
                        "field": {"type": "string", "enum": SORTABLE},
                        "direction": {"type": "string", "enum": ["asc", "desc"]},
                    },
                },
            },
            "fields": {
                "type": "object",
                "properties": {
                    "include": {"type": "array", "items": {"type": "string"}},
                    "exclude": {"type": "array", "items": {"type": "string"}},
                },
            },
            "filter": {
                "description": "CQL2: an object (cql2-json) or a string (cql2-text)",
                "oneOf": [{"type": "object"}, {"type": "string"}],
            },
            "filter-lang": {"type": "string", "enum": ["cql2-text", "cql2-json"]},
            "filter-crs": {"type": "string"},
            "token": {"type": "string"},
        },
    },
    "Queryables": {"type": "object", "description": "A JSON Schema of the queryable properties"},
}


def _operation(
    summary: str,
    answer: dict[str, Any],
    parameters: list[dict[str, Any]] | None = None,
    errors: dict[str, Any] | None = None,
    operation_id: str = "",
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": operation_id,
        "responses": {"200": answer, **(errors or ERRORS)},
    }
    if parameters:
        operation["parameters"] = parameters
    return operation


def _in_collection(
    summary: str, answer: dict[str, Any], operation_id: str, *parameters: dict[str, Any]
) -> dict[str, Any]:
    """An operation under /collections/{collectionId}: the id first among its parameters,
    a 404 for an unknown collection (or item)."""
    return _operation(
        summary, answer, [COLLECTION_ID, *parameters], {**NOT_FOUND, **ERRORS}, operation_id
    )


def document(root: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document, its server the STAC API's root."""
    items = _answer("A page of items", "ItemCollection", GEOJSON)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Dinamis STAC API",
            "version": "1.0.0",
            "description": (
                "The Dinamis catalogue as a STAC API 1.0: collections, items and item"
                " search with the filter (CQL2), sort and fields extensions. Errors are"
                ' {"code", "description"}, in English unless Accept-Language asks for'
                " French. Items list their files only to the bearer of a token allowed to"
                " download them."
            ),
        },
        "servers": [{"url": root}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Optional: a personal token, for the asset links.",
                }
            },
        },
        "security": [{}, {"bearerAuth": []}],
        "paths": {
            "/": {
                "get": _operation(
                    N_("The landing page"),
                    _answer("The landing page", "LandingPage"),
                    operation_id="getLandingPage",
                )
            },
            "/conformance": {
                "get": _operation(
                    N_("The conformance classes"),
                    _answer("The conformance classes", "Conformance"),
                    operation_id="getConformance",
                )
            },
            "/api": {
                "get": {
                    "summary": N_("This document"),
                    "operationId": "getServiceDesc",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document",
                            "content": {
                                "application/vnd.oai.openapi+json;version=3.0": {
                                    "schema": {"type": "object"}
                                }
                            },
                        }
                    },
                }
            },
            "/api.html": {
                "get": {
                    "summary": N_("This document for people"),
                    "operationId": "getServiceDoc",
                    "responses": {
                        "200": {
                            "description": "An HTML page",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/collections": {
                "get": _operation(
                    N_("The collections"),
                    _answer("The collections", "Collections"),
                    operation_id="getCollections",
                )
            },
            "/collections/{collectionId}": {
                "get": _in_collection(
                    N_("A collection"),
                    _answer("The collection", "Collection"),
                    "describeCollection",
                )
            },
            "/collections/{collectionId}/items": {
                "get": _in_collection(
                    N_("A collection's items, a page at a time (next and prev links)"),
                    items,
                    "getFeatures",
                    *ITEMS_PARAMETERS,
                )
            },
            "/collections/{collectionId}/items/{itemId}": {
                "get": _in_collection(
                    N_("An item"), _answer("The item", "Item", GEOJSON), "getFeature", ITEM_ID
                )
            },
            "/collections/{collectionId}/queryables": {
                "get": _in_collection(
                    N_("The properties a filter on the collection may name"),
                    _answer("A JSON Schema", "Queryables", "application/schema+json"),
                    "getCollectionQueryables",
                )
            },
            "/queryables": {
                "get": _operation(
                    N_("The properties a filter may name"),
                    _answer("A JSON Schema", "Queryables", "application/schema+json"),
                    operation_id="getQueryables",
                )
            },
            "/search": {
                "get": _operation(
                    N_("Search items across collections"),
                    items,
                    SEARCH_PARAMETERS,
                    operation_id="getItemSearch",
                ),
                "post": {
                    **_operation(
                        N_("Search items across collections (parameters as a JSON body)"),
                        items,
                        operation_id="postItemSearch",
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": _ref("SearchBody")}},
                    },
                },
            },
        },
    }


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    parameters: list[tuple[str, str, str]]  # name, where, description


def reference(root: str) -> dict[str, Any]:
    """What the service-doc page shows: the root and each operation with its parameters."""
    operations = []
    for path, methods in document(root)["paths"].items():
        for method, operation in methods.items():
            parameters = [
                (p["name"], p["in"], p.get("description", ""))
                for p in operation.get("parameters", [])
            ]
            operations.append(Operation(method.upper(), path, operation["summary"], parameters))
    return {"root": root, "operations": operations}
