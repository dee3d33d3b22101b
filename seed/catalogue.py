"""Demo catalogue: a few collections and a few hundred generated scenes over France.

Deterministic (a fixed random seed), upserted by id: loading twice changes nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from typing import Any

from dinamis.catalogue.ingest import Report, load

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
                    "dinamis:spectral_mode": ("PMS", "PAN", "MS", "PMS")[n % 4],
                },
            }
        )
    return items + _stereo(items)


def _stereo(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stereo pairs (every 9th Pléiades scene) and triplets (every 12th Pléiades Neo one):
    the same footprint seen again seconds later from another angle, in one stereo group."""
    extra: list[dict[str, Any]] = []
    for n, item in enumerate(items):
        size = 2 if n % 9 == 1 else 3 if n % 12 == 2 else 0
        if not size or item["collection"] == "spot67-ortho-france":
            continue
        group = f"{item['id']}_STEREO"
        item["properties"]["dinamis:stereo_group"] = group
        when = dt.datetime.fromisoformat(item["properties"]["datetime"])
        for k in range(1, size):
            twin = copy.deepcopy(item)
            twin["id"] = f"{item['id']}_{k + 1}"
            twin["properties"]["datetime"] = (when + dt.timedelta(seconds=25 * k)).isoformat()
            twin["properties"]["view:incidence_angle"] = round(12.0 + 8 * k, 1)
            extra.append(twin)
    return extra


def load_catalogue() -> list[str]:
    report = Report()
    records = [("seed", c) for c in COLLECTIONS] + [("seed", item) for item in scenes()]
    load(records, report)
    if report.errors:
        raise RuntimeError(f"the demo catalogue has bad records: {report.errors[:3]}")
    return [f"catalogue: {report.collections} collections, {report.items} scenes (upserted)"]
