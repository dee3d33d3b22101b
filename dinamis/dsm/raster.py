"""The delivered rasters: the DSM as a Cloud-Optimized GeoTIFF and a shaded-relief quicklook.

Imported by the engine only (it needs rasterio, from the `dsm` extra).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.features import geometry_mask
from rasterio.warp import transform_bounds, transform_geom
from rasterio.windows import Window, from_bounds
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

NODATA = -32768.0
QUICKLOOK_MAX_PX = 1024


@dataclass(frozen=True)
class Written:
    path: Path
    epsg: int
    bbox_wgs84: tuple[float, float, float, float]
    valid_fraction: float  # of the pixels inside the AOI
    vertical_reference: str


def vertical_reference_of(crs: CRS | None) -> str:
    """What the heights are measured from, as read from CARS's (compound) CRS."""
    wkt = crs.to_wkt() if crs is not None else ""
    if "EGM96" in wkt or "5773" in wkt:
        return "EGM96"
    if "EGM2008" in wkt or "3855" in wkt:
        return "EGM2008"
    return "WGS84 ellipsoid"


def horizontal_epsg(crs: CRS) -> int:
    """The EPSG code of the horizontal part of a (possibly compound) CRS."""
    from pyproj import CRS as ProjCRS

    pcrs = ProjCRS.from_wkt(crs.to_wkt())
    for sub in pcrs.sub_crs_list or [pcrs]:
        if sub.is_projected or sub.is_geographic:
            code = sub.to_epsg()
            if code:
                return int(code)
    raise ValueError(f"no EPSG code for {crs}")


def write_cog(
    dsm_path: Path, out_path: Path, aoi_wgs84: BaseGeometry, *, cars_version: str = ""
) -> Written:
    """Crop CARS's DSM to the AOI, mask outside it, write a COG (float32, metres, nodata)."""
    with rasterio.open(dsm_path) as src:
        epsg = horizontal_epsg(src.crs)
        aoi = transform_geom("EPSG:4326", f"EPSG:{epsg}", mapping(aoi_wgs84))
        from shapely.geometry import shape

        aoi_local = shape(aoi)
        left, bottom, right, top = aoi_local.bounds
        window = from_bounds(left, bottom, right, top, transform=src.transform)
        window = window.round_offsets().round_lengths()
        window = window.intersection(Window(0, 0, src.width, src.height))
        data = src.read(1, window=window, boundless=False).astype(np.float32)
        transform = src.window_transform(window)
        src_nodata = src.nodata
        crs = src.crs
    invalid = ~np.isfinite(data)
    if src_nodata is not None and not math.isnan(src_nodata):
        invalid |= data == src_nodata
    outside = geometry_mask([aoi], out_shape=data.shape, transform=transform, invert=False)
    data[invalid | outside] = NODATA
    inside = int((~outside).sum())
    valid = int((~invalid & ~outside).sum())
    vertical = vertical_reference_of(crs)
    profile = {
        "driver": "COG",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "nodata": NODATA,
        "compress": "DEFLATE",
        "predictor": 3,
        "blocksize": 512,
        "overview_resampling": "average",
    }
    tmp = out_path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, "height")
        dst.units = ("metre",)
        dst.update_tags(
            VERTICAL_REFERENCE=vertical,
            UNIT="metre",
            PRODUCER=f"Dinamis, CARS {cars_version}".strip(),
        )
        dst.update_tags(1, VERTICAL_REFERENCE=vertical, UNIT="metre")
    tmp.replace(out_path)
    bounds = rasterio.transform.array_bounds(data.shape[0], data.shape[1], transform)
    west, south, east, north = transform_bounds(f"EPSG:{epsg}", "EPSG:4326", *bounds)
    return Written(
        path=out_path,
        epsg=epsg,
        bbox_wgs84=(west, south, east, north),
        valid_fraction=valid / inside if inside else 0.0,
        vertical_reference=vertical,
    )


# Hypsometric tints (low to high), multiplied by the shading.
_RAMP = np.array(
    [
        [0.00, 62, 122, 72],
        [0.25, 128, 170, 96],
        [0.50, 222, 214, 140],
        [0.75, 182, 136, 88],
        [1.00, 245, 242, 238],
    ]
)


def hillshade(
    heights: np.ndarray,
    valid: np.ndarray,
    pixel_m: float,
    *,
    azimuth_deg: float = 315.0,
    altitude_deg: float = 45.0,
) -> np.ndarray:
    """Shading in [0, 1] (north up), the usual formula (Horn-like central differences)."""
    z = np.where(valid, heights, np.nanmedian(heights[valid]) if valid.any() else 0.0)
    dzdy, dzdx = np.gradient(z.astype(np.float64), pixel_m)
    slope = np.arctan(np.hypot(dzdx, dzdy))
    aspect = np.arctan2(dzdy, -dzdx)  # ESRI's convention: rows (and dz/dy) go south
    az = math.radians(360.0 - azimuth_deg + 90.0)
    alt = math.radians(altitude_deg)
    shade = np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    clipped: np.ndarray = np.clip(shade, 0.0, 1.0)
    return clipped


def write_quicklook(cog_path: Path, png_path: Path, max_px: int = QUICKLOOK_MAX_PX) -> Path:
    """A shaded-relief PNG (hypsometric tints x hillshade, nodata transparent)."""
    from PIL import Image

    with rasterio.open(cog_path) as src:
        scale = max(1.0, max(src.width, src.height) / max_px)
        out_w = max(1, round(src.width / scale))
        out_h = max(1, round(src.height / scale))
        data = src.read(
            1, out_shape=(out_h, out_w), resampling=Resampling.average, masked=True
        ).astype(np.float64)
        pixel_m = abs(src.transform.a) * (src.width / out_w)
    valid = ~np.ma.getmaskarray(data)
    z = np.ma.filled(data, np.nan)
    shade = hillshade(z, valid, pixel_m)
    rgba = np.zeros((out_h, out_w, 4), dtype=np.uint8)
    if valid.any():
        lo, hi = np.percentile(z[valid], [2, 98])
        t = np.clip((z - lo) / max(hi - lo, 1e-6), 0, 1)
        t = np.where(valid, t, 0)
        colour = np.stack([np.interp(t, _RAMP[:, 0], _RAMP[:, k]) for k in (1, 2, 3)], axis=-1)
        lit = colour * (0.35 + 0.65 * shade[..., None])
        rgba[..., :3] = np.clip(lit, 0, 255).astype(np.uint8)
        rgba[..., 3] = np.where(valid, 255, 0).astype(np.uint8)
    tmp = png_path.with_suffix(".tmp.png")
    Image.fromarray(rgba, "RGBA").save(tmp, format="PNG", optimize=True)
    tmp.replace(png_path)
    return png_path


def geoid_undulation(lon: float, lat: float) -> float:
    """EGM96 geoid height above the WGS 84 ellipsoid (metres), from the grid CARS ships.

    Bilinear on CARS's 0.25-degree grid (CARS itself is not imported: only its data file).
    """
    spec = importlib.util.find_spec("cars")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("CARS is not installed (the dsm extra)")
    grid = Path(next(iter(spec.submodule_search_locations))) / "conf" / "geoid" / "egm96.grd"
    with rasterio.open(grid) as g:
        t = g.transform
        u = ((lon % 360.0) - t.c) / t.a - 0.5
        v = (lat - t.f) / t.e - 0.5
        i, j = math.floor(v), math.floor(u)
        block = g.read(1, window=Window(j, i, 2, 2)).astype(np.float64)
    fv, fu = v - i, u - j
    return float(
        block[0, 0] * (1 - fv) * (1 - fu)
        + block[1, 0] * fv * (1 - fu)
        + block[0, 1] * (1 - fv) * fu
        + block[1, 1] * fv * fu
    )
