"""Demo catalogue: a few collections and a few hundred generated scenes over France.

Deterministic (a fixed random seed), upserted by id: loading twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from dinamis.catalogue.ingest import _flush_items, _upsert_collection, item_row
from dinamis.extensions import db

COLLECTIONS: list[dict[str, Any]] = [
    {
        "type": "Collection",
        "id": "spot67-ortho-france",
        "title": "SPOT 6-7 ortho mosaics of France",
        "description": "Yearly 1.5 m coverage of mainland France and Corsica (open data).",
        "license": "etalab-2.0",
        "dinamis": {"access": "open", "sensor_family": "spot"},
    },
    {
        "type": "Collection",
        "id": "pleiades-archive",
        "title": "Pléiades 50 cm",
        "description": "Pléiades 1A/1B scenes acquired for members.",
        "license": "dinamis-pleiades",
        "dinamis": {"access": "members", "sensor_family": "pleiades", "orderable": True},
    },
    {
        "type": "Collection",
        "id": "pleiades-neo",
        "title": "Pléiades Neo 30 cm",
        "description": "Pléiades Neo 3/4, on demand.",
        "license": "dinamis-pleiades",
        "dinamis": {
            "access": "profiles",
            "profiles": ["research-fr", "public-fr"],
            "sensor_family": "pleiades-neo",
        },
    },
]
FAMILY = {
    "spot67-ortho-france": ("spot", "spot-6", 1.5),
    "pleiades-archive": ("pleiades", "pleiades-1a", 0.5),
    "pleiades-neo": ("pleiades-neo", "pleiades-neo-3", 0.3),
}


def scenes(count: int = 300) -> list[dict[str, Any]]:
    rng = random.Random(2026)
    items = []
    for n in range(count):
        collection = ("spot67-ortho-france", "pleiades-archive", "pleiades-neo")[n % 3]
        _family, platform, gsd = FAMILY[collection]
        lon, lat = rng.uniform(-4.5, 7.5), rng.uniform(42.5, 50.5)
        size = 0.6 if collection.startswith("spot") else 0.2
        when = dt.datetime(2015, 1, 1, 10, 30, tzinfo=dt.UTC) + dt.timedelta(
            days=rng.randint(0, 4300)
        )
        items.append(
            {
                "type": "Feature",
                "id": f"{platform.upper()}_{when:%Y%m%d}_{n:04d}",
                "collection": collection,
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [lon, lat],
                            [lon + size, lat],
                            [lon + size, lat + size * 0.7],
                            [lon, lat + size * 0.7],
                            [lon, lat],
                        ]
                    ],
                },
                "properties": {
                    "datetime": when.isoformat(),
                    "platform": platform,
                    "constellation": platform.rsplit("-", 1)[0],
                    "eo:cloud_cover": round(rng.uniform(0, 60), 1),
                    "view:incidence_angle": round(rng.uniform(0, 30), 1),
                    "view:sun_elevation": round(rng.uniform(20, 65), 1),
                    "view:sun_azimuth": round(rng.uniform(120, 220), 1),
                    "gsd": gsd,
                    "processing:level": "ortho" if collection.startswith("spot") else "primary",
                    "dinamis:spectral_mode": "pms",
                },
            }
        )
    return items


def load_catalogue() -> list[str]:
    for collection in COLLECTIONS:
        _upsert_collection(collection)
    known = {c["id"] for c in COLLECTIONS}
    rows = [item_row(item, known) for item in scenes()]
    count = len(rows)
    _flush_items(rows)
    db.session.flush()
    return [f"catalogue: {len(COLLECTIONS)} collections, {count} scenes (upserted)"]
