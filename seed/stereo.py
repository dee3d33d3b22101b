"""Demo stereo pairs and a tri-stereo group with real image files and RPC models.

`dinamis.dsm.synthetic.write_demo_stereo` (the engine's side, installed with
the `dsm` extra) renders a known terrain into two or three views, written as
GeoTIFFs with their RPC models; they are generated into the store at seed time
(skipped when already there), never committed. Each view becomes a scene of
the Pléiades collection, the views of one site sharing a `dinamis:stereo_group`,
so that a member can ask for a surface model from them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path
from typing import Any

from dinamis.dsm.service import local_path

FOLDER = "scenes/stereo-demo"
WHEN = dt.datetime(2026, 6, 1, 10, 30, tzinfo=dt.UTC)
COLLECTION = "pleiades-archive"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        for chunk in iter(lambda: reader.read(1 << 20), b""):
            digest.update(chunk)
    return "1220" + digest.hexdigest()


def _quicklook(image: Path) -> bytes:
    """A small PNG of the view's first band, stretched to its 2-98 % range."""
    import numpy as np
    import rasterio
    from PIL import Image

    with rasterio.open(image) as source:
        band = source.read(1, out_shape=(1, 128, 128)).astype("float64")
    low, high = np.percentile(band, (2, 98))
    scaled = np.clip((band - low) / max(high - low, 1e-9) * 255, 0, 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(scaled, mode="L").save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def stereo_items() -> tuple[list[dict[str, Any]], str]:
    """The demo groups as STAC items (their files written to the store), and a line for
    the seed's report. None when the engine's extra is not installed."""
    try:
        from dinamis.dsm.synthetic import write_demo_stereo
    except ImportError as exc:
        return [], f"stereo demo: skipped (install the dsm extra: {exc})"
    from dinamis.catalogue.storage import storage

    out_dir = local_path(f"{FOLDER}/x").parent
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = write_demo_stereo(out_dir)
    items = []
    for spec in specs:
        group = f"DEMO_{spec.group_id.upper()}"
        for k, view in enumerate(spec.views):
            scene_id = f"PHR_DEMO_{spec.site.upper()}_{view.view.upper()}"
            key = f"{FOLDER}/{view.path.name}"
            quicklook = f"quicklooks/{scene_id}.png"
            if not storage().exists(quicklook):
                storage().put(quicklook, _quicklook(view.path))
            items.append(
                {
                    "type": "Feature",
                    "id": scene_id,
                    "collection": COLLECTION,
                    "geometry": view.footprint_wgs84.__geo_interface__,
                    "properties": {
                        "datetime": (WHEN + dt.timedelta(seconds=25 * k)).isoformat(),
                        "platform": "pleiades-1a",
                        "constellation": "pleiades",
                        "eo:cloud_cover": 0.0,
                        "view:incidence_angle": round(float(view.incidence_deg), 1),
                        "view:azimuth": round(float(view.azimuth_deg), 1),
                        "gsd": float(spec.gsd_m),
                        "processing:level": "primary",
                        "dinamis:spectral_mode": "PAN",
                        "dinamis:stereo_group": group,
                        "title": f"{spec.site.title()} ({spec.kind}, {view.view})",
                    },
                    "assets": {
                        "thumbnail": {
                            "href": quicklook,
                            "type": "image/png",
                            "roles": ["thumbnail"],
                        },
                        "data": {
                            "href": key,
                            "type": "image/tiff; application=geotiff",
                            "title": "Image (with its RPC model)",
                            "roles": ["data"],
                            "file:size": view.path.stat().st_size,
                            "file:checksum": _sha256(view.path),
                        },
                    },
                }
            )
    groups = ", ".join(f"{s.site} ({len(s.views)} views)" for s in specs)
    return items, f"stereo demo: {groups}"
