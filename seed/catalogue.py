"""Demo catalogue: a few collections and a few hundred generated scenes over France.

Deterministic (a fixed random seed), upserted by id: loading twice changes nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import random
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from dinamis.catalogue.ingest import Report, load
from dinamis.catalogue.storage import storage

COLLECTIONS: list[dict[str, Any]] = [
    {
        "type": "Collection",
        "id": "spot67-ortho-france",
        "title": "SPOT 6-7 ortho mosaics of France",
        "description": "Yearly 1.5 m coverage of mainland France and Corsica (open data).",
        "license": "etalab-2.0",
        "dinamis": {
            "access": "open",
            "sensor_family": "spot",
            "title_fr": "Mosaïques ortho SPOT 6-7 de la France",
        },
    },
    {
        "type": "Collection",
        "id": "pleiades-archive",
        "title": "Pléiades 50 cm",
        "description": "Pléiades 1A/1B scenes acquired for members.",
        "license": "dinamis-pleiades",
        "dinamis": {
            "access": "members",
            "sensor_family": "pleiades",
            "orderable": True,
            "title_fr": "Pléiades 50 cm",
        },
    },
    {
        "type": "Collection",
        "id": "pleiades-neo",
        "title": "Pléiades Neo 30 cm",
        "description": "Pléiades Neo 3/4, on demand.",
        "license": "dinamis-pleiades",
        "dinamis": {
            "title_fr": "Pléiades Neo 30 cm",
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


def _picture(seed: str, size: int, cloud: float) -> Image.Image:
    """A small made-up landscape: smooth fields of green and brown, clouds as the cover says."""
    rng = random.Random(seed)
    cells = Image.new("RGB", (8, 8))
    cells.putdata(
        [
            (rng.randint(60, 140), rng.randint(90, 160), rng.randint(40, 90))
            if rng.random() < 0.7
            else (rng.randint(120, 180), rng.randint(100, 140), rng.randint(60, 100))
            for _ in range(64)
        ]
    )
    picture = cells.resize((size, size), Image.Resampling.BICUBIC)
    clouds = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(clouds)
    for _ in range(int(cloud / 4)):
        x, y, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(size / 16, size / 6)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=230)
    clouds = clouds.filter(ImageFilter.GaussianBlur(size / 40))
    return Image.composite(Image.new("RGB", (size, size), (245, 245, 245)), picture, clouds)


def _store(key: str, data: bytes) -> None:
    store = storage()
    if not store.exists(key) or store.stat(key).size != len(data):
        store.put(key, data)


def with_files(item: dict[str, Any]) -> dict[str, Any]:
    """Give a scene a quicklook (PNG) and a data file (a small TIFF), written to the store."""
    scene_id = item["id"]
    cloud = float(item["properties"].get("eo:cloud_cover", 0))
    buffer = io.BytesIO()
    _picture(scene_id, 128, cloud).save(buffer, "PNG", optimize=True)
    quicklook = f"quicklooks/{scene_id}.png"
    _store(quicklook, buffer.getvalue())
    buffer = io.BytesIO()
    _picture(scene_id, 96, cloud).save(buffer, "TIFF")
    data = buffer.getvalue()
    path = f"scenes/{scene_id}/{scene_id}.tif"
    _store(path, data)
    item["assets"] = {
        "thumbnail": {"href": quicklook, "type": "image/png", "roles": ["thumbnail"]},
        "data": {
            "href": path,
            "type": "image/tiff; application=geotiff",
            "title": "Image",
            "roles": ["data"],
            "file:size": len(data),
            "file:checksum": "1220" + hashlib.sha256(data).hexdigest(),
        },
    }
    return item


def load_catalogue() -> list[str]:
    from seed.stereo import stereo_items  # stereo groups with real images (dsm extra)

    report = Report()
    records = [("seed", c) for c in COLLECTIONS] + [("seed", with_files(item)) for item in scenes()]
    demo, stereo = stereo_items()
    load(records + [("seed", item) for item in demo], report)
    if report.errors:
        raise RuntimeError(f"the demo catalogue has bad records: {report.errors[:3]}")
    from dinamis.dsm.service import product_collection

    product_collection()  # the surface models' collection, in STAC before any delivery
    return [
        f"catalogue: {report.collections} collections, {report.items} scenes (upserted)",
        stereo,
    ]
