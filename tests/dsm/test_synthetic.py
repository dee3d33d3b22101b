"""The generated stereo data: exact RPC cameras, rays that meet the known surface first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import RPCTransformer

from dinamis.dsm import synthetic
from dinamis.dsm.synthetic import BACKWARD, FORWARD, NADIR, Site, make_scene

SITE = Site("t", lon0=1.4442, lat0=43.6045, ground_m=196.0, size_px=640, seed=1)


def test_the_terrain_has_hills_a_ridge_flat_ground_and_buildings() -> None:
    scene = make_scene(SITE)
    assert len(scene.buildings) == 4
    assert scene.ridge is not None and len(scene.hills) == 3
    e = SITE.half_extent_m
    x, y = np.meshgrid(np.linspace(-e, e, 321), np.linspace(-e, e, 321))
    h = scene.height(x, y)
    ground = scene.ground(x, y)
    assert h.max() - SITE.ground_m >= 17  # the tallest roof, 18 m
    assert (np.abs(ground - SITE.ground_m) < 0.05).mean() > 0.2  # flat ground
    assert ground.max() - SITE.ground_m > 10  # hills and ridge
    for b in scene.buildings:
        cx, cy = b.centre
        assert scene.height(np.array([cx]), np.array([cy]))[0] == b.roof_m
        half = min(b.x1 - b.x0, b.y1 - b.y0) / 2
        assert scene.discontinuity_distance(np.array([cx]), np.array([cy]))[0] == half
        # a sharp edge: 10 cm outside the wall is the ground
        outside = scene.height(np.array([b.x1 + 0.1]), np.array([cy]))[0]
        assert b.roof_m - outside >= 5


def test_small_sites_keep_only_the_buildings_that_fit() -> None:
    small = make_scene(Site("s", lon0=1.0, lat0=44.0, ground_m=100.0, size_px=320))
    e = small.site.half_extent_m
    assert 1 <= len(small.buildings) < 4
    for b in small.buildings:
        assert max(abs(b.x0), abs(b.x1), abs(b.y0), abs(b.y1)) <= 0.9 * e - 25


@pytest.mark.parametrize("view", [FORWARD, BACKWARD, NADIR])
def test_rays_meet_the_surface_first(view: synthetic.View) -> None:
    scene = make_scene(SITE)
    rng = np.random.default_rng(3)
    line = rng.uniform(0, SITE.size_px - 1, 4000)
    sample = rng.uniform(0, SITE.size_px - 1, 4000)
    x, y, h = scene.cast(view, line, sample)
    # on the surface (a wall point is between the ground and the roof)
    surface = scene.height(x, y)
    on_wall = scene.discontinuity_distance(x, y) < 1e-6
    assert np.all(np.abs(h - surface)[~on_wall] < 1e-4)
    assert on_wall.sum() < 0.02 * on_wall.size
    # and seen by the same pixel
    back_line, back_sample = scene.image_coords(view, x, y, h)
    assert np.allclose(back_line, line, atol=1e-6) and np.allclose(back_sample, sample, atol=1e-6)
    # nothing above it along the ray: every higher point of the ray is above the surface
    for up in (0.05, 0.5, 2.0, 8.0):
        xr = x + view.dx * up
        yr = y + view.dy * up
        assert np.all(scene.height(xr, yr) <= h + up + 1e-6)


def test_views_carry_exact_rpc_models(tmp_path: Path) -> None:
    site = Site("r", lon0=5.7245, lat0=45.1885, ground_m=262.0, size_px=200, seed=2)
    spec = synthetic.write_stereo(tmp_path, site, (FORWARD, NADIR, BACKWARD))
    assert spec.kind == "tristereo" and len(spec.images) == 3
    assert spec.base_to_height == pytest.approx(0.3027, abs=1e-3)
    assert spec.epsg == 32631
    scene = make_scene(site)
    rng = np.random.default_rng(4)
    x = rng.uniform(-50, 50, 200)
    y = rng.uniform(-50, 50, 200)
    h = site.ground_m + rng.uniform(-20, 60, 200)
    lon, lat = site.to_lonlat(x, y)
    for stereo_view, view in zip(spec.views, (FORWARD, NADIR, BACKWARD), strict=True):
        with rasterio.open(stereo_view.path) as src:
            assert src.rpcs is not None and src.crs is None  # RPCs only, no geotransform
            assert src.dtypes[0] == "uint16" and src.shape == (200, 200)
            image = src.read(1)
            with RPCTransformer(src.rpcs) as tr:
                rows, cols = tr.rowcol(lon, lat, zs=h, op=lambda v: v)
        line, sample = scene.image_coords(view, x, y, h)
        # GDAL counts from the pixel's corner, the RPC convention from its centre
        assert np.allclose(np.asarray(rows), line + 0.5, atol=1e-6)
        assert np.allclose(np.asarray(cols), sample + 0.5, atol=1e-6)
        assert image.std() > 30  # textured
        assert stereo_view.footprint_wgs84.contains(spec.footprint_wgs84.centroid)
    assert spec.footprint_wgs84.area > 0.8 * spec.views[0].footprint_wgs84.area


def test_generation_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    site = Site("d", lon0=3.8767, lat0=43.6108, ground_m=77.0, size_px=120, seed=7)
    a = synthetic.write_stereo(tmp_path / "a", site)
    b = synthetic.write_stereo(tmp_path / "b", site)
    for pa, pb in zip(a.images, b.images, strict=True):
        with rasterio.open(pa) as ra, rasterio.open(pb) as rb:
            assert np.array_equal(ra.read(), rb.read())
    mtime = a.images[0].stat().st_mtime_ns
    again = synthetic.write_stereo(tmp_path / "a", site)  # already there: kept
    assert again.images[0].stat().st_mtime_ns == mtime


def test_demo_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = tuple(
        Site(s.name, s.lon0, s.lat0, s.ground_m, size_px=100, seed=s.seed)
        for s in synthetic.DEMO_SITES
    )
    monkeypatch.setattr(synthetic, "DEMO_SITES", small)
    specs = synthetic.write_demo_stereo(tmp_path)
    assert [s.kind for s in specs] == ["stereo", "stereo", "tristereo"]
    assert len({s.group_id for s in specs}) == 3
    for spec in specs:
        assert all(p.is_file() and p.parent == tmp_path for p in spec.images)
        assert spec.footprint_wgs84.is_valid and not spec.footprint_wgs84.is_empty
        assert all(0 <= v.incidence_deg < 10 for v in spec.views)
