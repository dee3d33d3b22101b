"""Synthetic stereo imagery with a known surface, for the demo catalogue, tests and benches.

A scene is a height field known exactly at every point: smooth ground (flat
ground, a few hills and a ridge) and sharp-edged flat-roofed "buildings". It
is rendered into two or three views at 0.5 m by exact ray casting through
*affine* cameras: a view's image line and sample are linear functions of
(longitude, latitude, ellipsoidal height), which an RPC model (RPC00B, with
a denominator of 1) represents exactly. The views are written as GeoTIFFs
carrying that model as GDAL RPC metadata (`rasterio` `rpcs=`), the form CARS
reads when no other geometric model is given.

Heights are ellipsoidal (WGS 84), as in any RPC model. Everything is made
from a seed, so nothing binary is committed: the seed command and the tests
generate the files they need.

Geometry: the site's local frame is x (metres east) and y (metres north) of
the site's centre, linear in longitude and latitude (equirectangular at the
site's latitude, exact by definition: the truth is *defined* in this frame).
A view looks along the direction (dx, dy, 1): a pixel sees the points
x = x_ref + dx (h - h_ref), y = y_ref + dy (h - h_ref); the base-to-height
ratio of two views is |d1 - d2|.

Only numpy is needed to build a scene; writing GeoTIFFs needs rasterio
(the `dsm` extra), imported when a file is written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

GSD_M = 0.5
# WGS 84
_A = 6378137.0
_E2 = 6.69437999014e-3


@dataclass(frozen=True)
class Building:
    """A flat-roofed box: footprint [x0, x1] x [y0, y1] (local metres), roof height."""

    name: str
    x0: float
    x1: float
    y0: float
    y1: float
    roof_m: float  # ellipsoidal height of the flat roof

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class View:
    """An affine pushbroom-like view: the ray's horizontal shift per metre of height."""

    name: str
    dx: float
    dy: float

    @property
    def incidence_deg(self) -> float:
        return math.degrees(math.atan(math.hypot(self.dx, self.dy)))

    @property
    def azimuth_deg(self) -> float:
        """Direction of the satellite seen from the ground, clockwise from north."""
        return math.degrees(math.atan2(self.dx, self.dy)) % 360.0


# Along-track stereo as Pleiades takes it: looking forward, backward, and nadir.
# dy = +-0.15 gives a base-to-height ratio of 0.3 for the pair (about 8.5 deg incidence).
FORWARD = View("forward", dx=0.02, dy=0.15)
BACKWARD = View("backward", dx=-0.02, dy=-0.15)
NADIR = View("nadir", dx=0.0, dy=0.0)


@dataclass(frozen=True)
class Site:
    """Where a scene stands and how big its images are."""

    name: str
    lon0: float
    lat0: float
    ground_m: float  # ellipsoidal height of the flat ground
    size_px: int = 640
    gsd_m: float = GSD_M
    seed: int = 17

    @property
    def metres_per_degree(self) -> tuple[float, float]:
        """(east, north) metres per degree at the site's latitude, WGS 84."""
        phi = math.radians(self.lat0)
        w = math.sqrt(1 - _E2 * math.sin(phi) ** 2)
        n = _A / w  # prime vertical radius
        m = _A * (1 - _E2) / w**3  # meridional radius
        return math.radians(1) * n * math.cos(phi), math.radians(1) * m

    @property
    def half_extent_m(self) -> float:
        return self.size_px * self.gsd_m / 2

    def to_local(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kx, ky = self.metres_per_degree
        return (np.asarray(lon) - self.lon0) * kx, (np.asarray(lat) - self.lat0) * ky

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kx, ky = self.metres_per_degree
        return self.lon0 + np.asarray(x) / kx, self.lat0 + np.asarray(y) / ky

    def utm_epsg(self) -> int:
        zone = int((self.lon0 + 180) // 6) + 1
        return (32600 if self.lat0 >= 0 else 32700) + zone


@dataclass
class Scene:
    """The known surface of a site: smooth ground plus buildings."""

    site: Site
    hills: list[tuple[float, float, float, float]] = field(default_factory=list)  # x, y, A, sigma
    ridge: tuple[float, float, float, float, float, float] | None = None  # x0,y0,x1,y1,A,w
    buildings: list[Building] = field(default_factory=list)

    # --- the truth -----------------------------------------------------------------------
    def ground(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Smooth ground height (no buildings), ellipsoidal metres."""
        h = np.full(np.broadcast(x, y).shape, self.site.ground_m, dtype=np.float64)
        for hx, hy, amp, sigma in self.hills:
            h += amp * np.exp(-((x - hx) ** 2 + (y - hy) ** 2) / (2 * sigma**2))
        if self.ridge is not None:
            x0, y0, x1, y1, amp, width = self.ridge
            d = _distance_to_segment(x, y, x0, y0, x1, y1)
            h += amp * np.exp(-(d**2) / (2 * width**2))
        return h

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The surface: roofs where there are buildings, the ground elsewhere."""
        h = self.ground(x, y)
        for b in self.buildings:
            inside = (x >= b.x0) & (x <= b.x1) & (y >= b.y0) & (y <= b.y1)
            h = np.where(inside, np.maximum(h, b.roof_m), h)
        return h

    def discontinuity_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Metres to the nearest height discontinuity (a building's wall)."""
        d = np.full(np.broadcast(x, y).shape, np.inf)
        for b in self.buildings:
            for sx0, sy0, sx1, sy1 in (
                (b.x0, b.y0, b.x1, b.y0),
                (b.x1, b.y0, b.x1, b.y1),
                (b.x1, b.y1, b.x0, b.y1),
                (b.x0, b.y1, b.x0, b.y0),
            ):
                d = np.minimum(d, _distance_to_segment(x, y, sx0, sy0, sx1, sy1))
        return d

    def height_lonlat(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return self.height(*self.site.to_local(lon, lat))

    def truth_on_grid(
        self, transform: Sequence[float], shape: tuple[int, int], epsg: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The known heights at the pixel centres of a raster grid (any CRS).

        Returns (heights, distance to a discontinuity in metres, x, y local metres).
        `transform` is an affine geotransform (a, b, c, d, e, f) as rasterio's Affine.
        """
        from pyproj import Transformer

        a, b, c, d, e, f = transform[:6]
        rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
        gx = c + a * cols + b * rows
        gy = f + d * cols + e * rows
        to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
        lon, lat = to_wgs84.transform(gx, gy)
        x, y = self.site.to_local(lon, lat)
        return self.height(x, y), self.discontinuity_distance(x, y), x, y

    # --- the cameras ---------------------------------------------------------------------
    def image_coords(
        self, view: View, x: np.ndarray, y: np.ndarray, h: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(line, sample) of ground points, GDAL's RPC convention (0 = first pixel's centre)."""
        s = self.site
        href = s.ground_m
        sample = (x - view.dx * (h - href) + s.half_extent_m) / s.gsd_m - 0.5
        line = (s.half_extent_m - (y - view.dy * (h - href))) / s.gsd_m - 0.5
        return line, sample

    def rpc(self, view: View) -> dict[str, object]:
        """The view's exact camera as RPC00B coefficients (GDAL/rasterio names)."""
        s = self.site
        kx, ky = s.metres_per_degree
        href = s.ground_m
        lon_scale = 1.2 * s.half_extent_m / kx + 1e-6
        lat_scale = 1.2 * s.half_extent_m / ky + 1e-6
        h_scale = 500.0
        line_off = samp_off = s.size_px / 2 - 0.5
        line_scale = samp_scale = s.size_px / 2
        # sample = ((lon-lon0)kx - dx(h-href) + E)/g - 0.5 with lon = lon0 + X lon_scale, ...
        g = s.gsd_m
        e = s.half_extent_m
        # with h = h_off + Z h_scale and h_off = href, the height term has no constant part
        samp = [
            (e / g - 0.5 - samp_off) / samp_scale,
            kx * lon_scale / g / samp_scale,
            0.0,
            -view.dx * h_scale / g / samp_scale,
        ]
        line = [
            (e / g - 0.5 - line_off) / line_scale,
            0.0,
            -ky * lat_scale / g / line_scale,
            view.dy * h_scale / g / line_scale,
        ]
        # X = (lon - lon0) / lon_scale, Y = (lat - lat0) / lat_scale, Z = (h - href) / h_scale
        return {
            "height_off": href,
            "height_scale": h_scale,
            "lat_off": s.lat0,
            "lat_scale": lat_scale,
            "long_off": s.lon0,
            "long_scale": lon_scale,
            "line_off": line_off,
            "line_scale": line_scale,
            "samp_off": samp_off,
            "samp_scale": samp_scale,
            "line_num_coeff": line + [0.0] * 16,
            "line_den_coeff": [1.0] + [0.0] * 19,
            "samp_num_coeff": samp + [0.0] * 16,
            "samp_den_coeff": [1.0] + [0.0] * 19,
        }

    # --- rendering -----------------------------------------------------------------------
    def cast(
        self, view: View, line: np.ndarray, sample: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first surface point each ray meets: (x, y, h) for image coordinates."""
        s = self.site
        href = s.ground_m
        xr = (sample + 0.5) * s.gsd_m - s.half_extent_m
        yr = s.half_extent_m - (line + 0.5) * s.gsd_m
        # the smooth ground: a contraction (slopes < 1, |d| = 0.15), so fixed-point iteration
        h = np.full(xr.shape, href)
        for _ in range(40):
            new = self.ground(xr + view.dx * (h - href), yr + view.dy * (h - href))
            done = np.max(np.abs(new - h)) < 1e-7
            h = new
            if done:
                break
        # the buildings: the ray's height interval inside each footprint, from above
        for b in self.buildings:
            lo = np.full(xr.shape, -np.inf)
            hi = np.full(xr.shape, np.inf)
            for ref, d, a0, a1 in ((xr, view.dx, b.x0, b.x1), (yr, view.dy, b.y0, b.y1)):
                if d == 0:
                    outside = (ref < a0) | (ref > a1)
                    lo = np.where(outside, np.inf, lo)
                else:
                    t0 = href + (a0 - ref) / d
                    t1 = href + (a1 - ref) / d
                    lo = np.maximum(lo, np.minimum(t0, t1))
                    hi = np.minimum(hi, np.maximum(t0, t1))
            hit = np.minimum(hi, b.roof_m)
            h = np.where((hit >= lo) & (hit > h), hit, h)
        return xr + view.dx * (h - href), yr + view.dy * (h - href), h

    def render(self, view: View, *, supersample: int = 3, noise_dn: float = 1.5) -> np.ndarray:
        """The view as a uint16 image (size_px square), anti-aliased."""
        s = self.site
        n = s.size_px
        texture = _Texture(self.site)
        rng = np.random.default_rng(s.seed * 1000 + sum(map(ord, view.name)))
        out = np.zeros((n, n), dtype=np.float64)
        offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
        cols = np.arange(n, dtype=np.float64)
        chunk = max(1, 200_000 // (n * supersample * supersample))
        for r0 in range(0, n, chunk):
            rows = np.arange(r0, min(n, r0 + chunk), dtype=np.float64)
            acc = np.zeros((rows.size, n))
            for oy in offsets:
                for ox in offsets:
                    line, sample = np.meshgrid(rows + oy, cols + ox, indexing="ij")
                    x, y, h = self.cast(view, line, sample)
                    acc += texture.radiance(self, x, y, h)
            out[r0 : r0 + rows.size] = acc / supersample**2
        out += rng.normal(0.0, noise_dn, out.shape)
        return np.clip(np.rint(out), 1, 4095).astype(np.uint16)

    def footprint(self, view: View) -> Polygon:
        """The view's ground footprint (lon/lat) at the ground height."""
        s = self.site
        n = s.size_px
        corners = [(-0.5, -0.5), (-0.5, n - 0.5), (n - 0.5, n - 0.5), (n - 0.5, -0.5)]
        pts = []
        for line, sample in corners:
            x, y, _h = self.cast(view, np.array([line]), np.array([sample]))
            lon, lat = s.to_lonlat(x, y)
            pts.append((float(lon[0]), float(lat[0])))
        return Polygon(pts)


class _Texture:
    """Ground reflectance: multi-scale noise, fields and a road, a function of the 3D point.

    Sampling it at (x + 0.6 (h - h0), y - 0.8 (h - h0)) gives walls a texture too while
    staying a property of the surface (the same in every view).
    """

    def __init__(self, site: Site, cell: float = 0.25) -> None:
        rng = np.random.default_rng(site.seed)
        self.cell = cell
        self.origin = -site.half_extent_m - 40.0
        size = round(2 * (site.half_extent_m + 40.0) / cell) + 2
        field_ = np.zeros((size, size))
        for scale_m, weight in ((0.5, 0.9), (1.0, 1.0), (2.0, 0.8), (4.0, 0.6), (16.0, 0.8)):
            step = max(1, round(scale_m / cell))
            coarse = rng.normal(0.0, 1.0, (size // step + 3, size // step + 3))
            field_ += weight * _upsample(coarse, step, size)
        self.values = field_
        self.h0 = site.ground_m

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u = (x - self.origin) / self.cell
        v = (y - self.origin) / self.cell
        return _bilinear(self.values, v, u)

    def radiance(self, scene: Scene, x: np.ndarray, y: np.ndarray, h: np.ndarray) -> np.ndarray:
        t = self.sample(x + 0.6 * (h - self.h0), y - 0.8 * (h - self.h0))
        # Lambertian shading of the smooth ground (view-independent), sun from the south-east
        e = 0.5
        gx = (scene.ground(x + e, y) - scene.ground(x - e, y)) / (2 * e)
        gy = (scene.ground(x, y + e) - scene.ground(x, y - e)) / (2 * e)
        sun = np.array([0.45, -0.35, 0.82])
        sun /= np.linalg.norm(sun)
        shade = (-gx * sun[0] - gy * sun[1] + sun[2]) / np.sqrt(gx**2 + gy**2 + 1)
        roofs = scene.height(x, y) > scene.ground(x, y) + 0.5
        base = np.where(roofs, 620.0, 480.0)
        radiance: np.ndarray = base * (0.55 + 0.45 * shade) + 70.0 * t
        return radiance


def _upsample(coarse: np.ndarray, step: int, size: int) -> np.ndarray:
    idx = np.arange(size) / step
    return _bilinear(coarse, idx[:, None] + 0 * idx[None, :], 0 * idx[:, None] + idx[None, :])


def _bilinear(grid: np.ndarray, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0, grid.shape[0] - 1.000001)
    u = np.clip(u, 0, grid.shape[1] - 1.000001)
    i = np.floor(v).astype(np.intp)
    j = np.floor(u).astype(np.intp)
    fv = v - i
    fu = u - j
    value: np.ndarray = (
        grid[i, j] * (1 - fv) * (1 - fu)
        + grid[i + 1, j] * fv * (1 - fu)
        + grid[i, j + 1] * (1 - fv) * fu
        + grid[i + 1, j + 1] * fv * fu
    )
    return value


def _distance_to_segment(
    x: np.ndarray, y: np.ndarray, x0: float, y0: float, x1: float, y1: float
) -> np.ndarray:
    vx, vy = x1 - x0, y1 - y0
    length2 = vx * vx + vy * vy
    t = np.clip(((x - x0) * vx + (y - y0) * vy) / length2, 0.0, 1.0)
    return np.hypot(x - (x0 + t * vx), y - (y0 + t * vy))


def make_scene(site: Site) -> Scene:
    """The standard terrain, laid out in fractions of the image so any size has it all.

    West half: hills and a ridge; east half: flat ground with four buildings of
    6 to 18 m. Building sizes are in metres (at least 16 m wide) and those that do not
    fit are left out of small scenes.
    """
    e = site.half_extent_m
    scene = Scene(site=site)
    scene.hills = [
        (-0.55 * e, 0.45 * e, 14.0, 0.22 * e),
        (-0.35 * e, -0.55 * e, 9.0, 0.18 * e),
        (-0.05 * e, 0.1 * e, 6.0, 0.14 * e),
    ]
    scene.ridge = (-0.9 * e, -0.05 * e, -0.1 * e, -0.35 * e, 10.0, max(8.0, 0.06 * e))
    specs = [  # centre (fractions of the half extent), size (m), height above ground (m)
        ("A", 0.35, 0.5, 24.0, 18.0, 12.0),
        ("B", 0.62, 0.1, 18.0, 30.0, 6.0),
        ("C", 0.4, -0.3, 30.0, 22.0, 18.0),
        ("D", 0.62, -0.62, 20.0, 20.0, 9.0),
    ]
    for name, fx, fy, w, h, tall in specs:
        cx, cy = fx * e, fy * e
        if abs(cx) + w / 2 > 0.9 * e - 25 or abs(cy) + h / 2 > 0.9 * e - 25:
            continue
        scene.buildings.append(
            Building(name, cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2, site.ground_m + tall)
        )
    return scene


# --- files -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StereoView:
    path: Path
    view: str  # forward / backward / nadir
    footprint_wgs84: Polygon
    incidence_deg: float
    azimuth_deg: float


@dataclass(frozen=True)
class StereoSpec:
    """One generated stereo (2 views) or tri-stereo (3 views) group, for the seed."""

    group_id: str
    site: str
    kind: str  # "stereo" | "tristereo"
    views: list[StereoView]
    gsd_m: float
    footprint_wgs84: Polygon  # the views' common footprint
    base_to_height: float
    epsg: int  # the UTM zone of the site

    @property
    def images(self) -> list[Path]:
        return [v.path for v in self.views]


def write_view(scene: Scene, view: View, path: Path) -> Path:
    """Render a view and write it as a GeoTIFF with its RPC model (no geotransform)."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.rpc import RPC

    image = scene.render(view)
    path.parent.mkdir(parents=True, exist_ok=True)
    rpc = RPC(**scene.rpc(view))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=image.shape[1],
            height=image.shape[0],
            count=1,
            dtype="uint16",
            rpcs=rpc,
            compress="deflate",
            tiled=True,
            blockxsize=256,
            blockysize=256,
        ) as dst:
            dst.write(image, 1)
            dst.update_tags(
                DINAMIS_SYNTHETIC=f"{scene.site.name}:{view.name}",
                INCIDENCE_DEG=f"{view.incidence_deg:.3f}",
                AZIMUTH_DEG=f"{view.azimuth_deg:.3f}",
            )
    return path


def write_stereo(
    out_dir: Path, site: Site, views: Sequence[View] = (FORWARD, BACKWARD), group_id: str = ""
) -> StereoSpec:
    """Generate a site's views into out_dir (skipped when already there)."""
    scene = make_scene(site)
    out_dir = Path(out_dir)
    stereo_views = []
    for view in views:
        path = out_dir / f"{site.name}_{view.name}.tif"
        if not path.is_file():
            write_view(scene, view, path.with_suffix(".tmp.tif"))
            path.with_suffix(".tmp.tif").replace(path)
        stereo_views.append(
            StereoView(path, view.name, scene.footprint(view), view.incidence_deg, view.azimuth_deg)
        )
    common: BaseGeometry = stereo_views[0].footprint_wgs84
    for v in stereo_views[1:]:
        common = common.intersection(v.footprint_wgs84)
    if not isinstance(common, Polygon):
        raise ValueError(f"the views of {site.name} have no common footprint")
    bh = max(
        math.hypot(a.dx - b.dx, a.dy - b.dy) for i, a in enumerate(views) for b in views[i + 1 :]
    )
    return StereoSpec(
        group_id=group_id or f"{site.name}-{'tri' if len(views) == 3 else ''}stereo",
        site=site.name,
        kind="tristereo" if len(views) == 3 else "stereo",
        views=stereo_views,
        gsd_m=site.gsd_m,
        footprint_wgs84=common,
        base_to_height=bh,
        epsg=site.utm_epsg(),
    )


# The demo sites: ellipsoidal ground heights close to the real ones (geoid ~50 m in France).
DEMO_SITES = (
    Site("toulouse", lon0=1.4442, lat0=43.6045, ground_m=196.0, seed=31),
    Site("grenoble", lon0=5.7245, lat0=45.1885, ground_m=262.0, seed=38),
    Site("montpellier", lon0=3.8767, lat0=43.6108, ground_m=77.0, seed=34),
)


def site_by_name(name: str) -> Site:
    for site in DEMO_SITES:
        if site.name == name:
            return site
    raise KeyError(name)


def write_demo_stereo(out_dir: Path) -> list[StereoSpec]:
    """The demo catalogue's groups: two stereo pairs and one tri-stereo group."""
    toulouse, grenoble, montpellier = DEMO_SITES
    return [
        write_stereo(Path(out_dir), toulouse, (FORWARD, BACKWARD)),
        write_stereo(Path(out_dir), grenoble, (FORWARD, BACKWARD)),
        write_stereo(Path(out_dir), montpellier, (FORWARD, NADIR, BACKWARD)),
    ]
