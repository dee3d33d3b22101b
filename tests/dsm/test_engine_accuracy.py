"""CARS on a generated stereo pair, compared with the heights the pair was rendered from.

The pair (0.5 m, base-to-height 0.3, 640 x 640 pixels) comes from
`dinamis.dsm.synthetic`; the DSM is computed by `dinamis.dsm.engine.compute`
exactly as the worker calls it, then every DSM pixel is compared with the
known surface at its centre (the truth evaluated on the DSM's grid), leaving
out 25 m along the image edges. CARS's heights are above the EGM96 geoid: the
truth (ellipsoidal, as the RPCs) is moved by the geoid height CARS uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from dinamis.dsm import raster, synthetic
from dinamis.dsm.engine import EngineInput, EngineOutput, compute

EDGE_M = 25.0
WALL_M = 4.0


@dataclass
class Comparison:
    out: EngineOutput
    valid_fraction: float
    rmse_smooth: float
    rmse_all: float
    median_abs: float
    buildings: dict[str, float]  # error at the centre of each building
    progress: list[tuple[int, str]]

    def __str__(self) -> str:
        roofs = ", ".join(f"{k} {v:+.2f} m" for k, v in self.buildings.items())
        return (
            f"valid {self.valid_fraction:.1%}, RMSE {self.rmse_smooth:.3f} m outside "
            f"{WALL_M:g} m of walls ({self.rmse_all:.3f} m everywhere), median |error| "
            f"{self.median_abs:.3f} m, roofs: {roofs}"
        )


def run_and_compare(tmp: Path, site: synthetic.Site, orchestrator: str, workers: int) -> Comparison:
    spec = synthetic.write_stereo(tmp / "images", site)
    scene = synthetic.make_scene(site)
    calls: list[tuple[int, str]] = []
    out = compute(
        EngineInput(
            images=spec.images,
            aoi_wgs84=spec.footprint_wgs84,
            resolution_m=0.5,
            orchestrator=orchestrator,
            workers=workers,
        ),
        tmp / "work",
        lambda pct, msg: calls.append((pct, msg)),
        timeout_s=900,
    )
    with rasterio.open(out.dsm_cog) as src:
        z = src.read(1).astype(np.float64)
        valid = z != src.nodata
        truth, wall_distance, x, y = scene.truth_on_grid(tuple(src.transform), z.shape, out.epsg)
    truth = truth - raster.geoid_undulation(site.lon0, site.lat0)
    inner_half = site.half_extent_m - EDGE_M
    inner = (np.abs(x) <= inner_half) & (np.abs(y) <= inner_half)
    assert inner.sum() > 0.5 * (2 * inner_half / 0.5) ** 2  # the DSM covers the images
    error = z - truth
    checked = inner & valid
    smooth = checked & (wall_distance > WALL_M)
    roofs = {}
    for b in scene.buildings:
        cx, cy = b.centre
        r, c = np.unravel_index(np.argmin((x - cx) ** 2 + (y - cy) ** 2), x.shape)
        roofs[b.name] = float(error[r, c]) if valid[r, c] else float("nan")
    return Comparison(
        out=out,
        valid_fraction=float(valid[inner].mean()),
        rmse_smooth=float(np.sqrt(np.mean(error[smooth] ** 2))),
        rmse_all=float(np.sqrt(np.mean(error[checked] ** 2))),
        median_abs=float(np.median(np.abs(error[checked]))),
        buildings=roofs,
        progress=calls,
    )


@pytest.fixture(scope="module")
def pair_result(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    site = synthetic.Site("accuracy", lon0=1.4442, lat0=43.6045, ground_m=196.0, seed=5)
    result = run_and_compare(tmp_path_factory.mktemp("dsm"), site, "multiprocessing", 2)
    print(f"\nCARS pair (multiprocessing): {result}")
    return result


def test_dsm_matches_the_known_surface(pair_result: Comparison) -> None:
    r = pair_result
    assert r.valid_fraction >= 0.90, str(r)
    assert r.rmse_smooth <= 0.5, str(r)
    assert r.median_abs <= 0.3, str(r)
    assert len(r.buildings) == 4
    for name, err in r.buildings.items():
        assert abs(err) <= 1.0, f"building {name}: {r}"


def test_delivered_files(pair_result: Comparison) -> None:
    out = pair_result.out
    with rasterio.open(out.dsm_cog) as src:
        assert src.driver == "GTiff"
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.overviews(1), "a COG of this size has overviews"
        assert src.nodata == out.nodata == raster.NODATA
        assert src.dtypes[0] == "float32"
        assert src.units[0] == "metre"
        assert src.tags()["VERTICAL_REFERENCE"] == out.vertical_reference == "EGM96"
        assert raster.horizontal_epsg(src.crs) == out.epsg == 32631
    west, south, east, north = out.bbox
    assert box(west, south, east, north).intersects(box(1.44, 43.60, 1.45, 43.61))
    from PIL import Image

    with Image.open(out.hillshade_png) as png:
        assert png.mode == "RGBA"
        assert max(png.size) <= raster.QUICKLOOK_MAX_PX
        alpha = np.asarray(png)[..., 3]
        assert (alpha == 255).mean() > 0.5
    assert out.log_path.is_file() and "CARS" in out.log_path.read_text()
    assert out.cars_version == "1.3.0"
    assert 0.75 <= out.valid_fraction <= 1.0  # the whole footprint, edges included


def test_progress_goes_forward_to_the_end(pair_result: Comparison) -> None:
    percents = [p for p, _ in pair_result.progress]
    assert percents == sorted(percents)
    assert percents[-1] == 100
    assert any("dense matching" in m for _, m in pair_result.progress)
    assert len(set(percents)) >= 6


def test_local_dask_mode(tmp_path: Path) -> None:
    """CARS's own orchestration handed to a (local) Dask cluster, on a smaller pair.

    It segfaulted every time until the Dask workers were started without
    MALLOC_TRIM_THRESHOLD_ (engine._child_env says why).
    """
    site = synthetic.Site("dask", lon0=5.7245, lat0=45.1885, ground_m=262.0, size_px=240, seed=9)
    r = run_and_compare(tmp_path, site, "local_dask", 2)
    print(f"\nCARS pair (local_dask): {r}")
    assert "local_dask" in (tmp_path / "work" / "cars.json").read_text()
    assert r.valid_fraction >= 0.90, str(r)
    assert r.median_abs <= 0.3, str(r)
    assert r.rmse_smooth <= 0.5, str(r)
