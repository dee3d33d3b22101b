"""The scene properties a search can filter and sort on, by their STAC names.

One table serves the STAC `queryables` document, CQL2 filters and `sortby`,
so the three never disagree about what a name means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import InstrumentedAttribute

from dinamis.catalogue.models import Scene


@dataclass(frozen=True)
class Queryable:
    name: str
    column: InstrumentedAttribute[Any]
    kind: str  # number | string | datetime | geometry
    description: str
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = True

    def schema(self) -> dict[str, Any]:
        if self.kind == "geometry":
            return {
                "description": self.description,
                "$ref": "https://geojson.org/schema/Geometry.json",
            }
        if self.kind == "datetime":
            return {"description": self.description, "type": "string", "format": "date-time"}
        schema: dict[str, Any] = {"description": self.description, "type": self.kind}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema


QUERYABLES: dict[str, Queryable] = {
    q.name: q
    for q in (
        Queryable("id", Scene.id, "string", "Scene identifier", nullable=False),
        Queryable("collection", Scene.collection_id, "string", "Collection", nullable=False),
        Queryable("datetime", Scene.datetime, "datetime", "Acquisition time", nullable=False),
        Queryable("geometry", Scene.footprint, "geometry", "Footprint", nullable=False),
        Queryable("platform", Scene.platform, "string", "Satellite"),
        Queryable("constellation", Scene.constellation, "string", "Constellation"),
        Queryable("gsd", Scene.gsd, "number", "Ground sample distance (m)", 0),
        Queryable("eo:cloud_cover", Scene.cloud_cover, "number", "Cloud cover (%)", 0, 100),
        Queryable(
            "view:incidence_angle", Scene.incidence_angle, "number", "Incidence angle (°)", 0, 90
        ),
        Queryable(
            "view:sun_elevation", Scene.sun_elevation, "number", "Sun elevation (°)", -90, 90
        ),
        Queryable("view:sun_azimuth", Scene.sun_azimuth, "number", "Sun azimuth (°)", 0, 360),
        Queryable("processing:level", Scene.processing_level, "string", "Processing level"),
        Queryable(
            "dinamis:spectral_mode", Scene.spectral_mode, "string", "Spectral mode (PAN, MS, PMS)"
        ),
        Queryable("dinamis:stereo_group", Scene.stereo_group, "string", "Stereo pair or triplet"),
    )
}
# Also accepted in filters: the same names prefixed with `properties.`.
ALIASES = {f"properties.{name}": name for name in QUERYABLES}
SORTABLE = [name for name, q in QUERYABLES.items() if q.kind != "geometry"]


def lookup(name: str) -> Queryable | None:
    return QUERYABLES.get(ALIASES.get(name, name))


def document(root: str, collection_id: str | None = None) -> dict[str, Any]:
    """The JSON Schema of the queryables (STAC API Filter extension)."""
    suffix = f"/collections/{collection_id}" if collection_id else ""
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{root}{suffix}/queryables",
        "type": "object",
        "title": "Queryables",
        "description": (
            "The properties a filter and sortby name. Items may have other properties,"
            " which the catalogue does not index: a filter reads any property not listed"
            " here as null, so that a comparison with it matches no item"
            " (and IS NULL matches every item)."
        ),
        "properties": {name: q.schema() for name, q in QUERYABLES.items()},
        "additionalProperties": True,
    }


# The values the search page offers (the data may hold others; STAC filters take any).
PROCESSING_LEVELS = ("primary", "ortho")
SPECTRAL_MODES = ("PAN", "MS", "PMS", "bundle")
