"""The photogrammetry engine: CNES's CARS, run in a child process, its DSM made deliverable.

`compute()` is called from the DSM worker only (through `dinamis.dsm.runner`); nothing
here imports CARS: it runs as `python -m cars.cars` in a subprocess, whose log is
kept and read for progress, and which is killed (with every process it started)
at the time limit or when the caller stops the job. Success is judged by CARS's
exit status and its DSM file (its log prints ERROR lines on successful runs too),
then the DSM is cropped to the AOI and written as a Cloud-Optimized GeoTIFF with a
shaded-relief quicklook (`dinamis.dsm.raster`).

CARS 1.3's configuration: `input.sensors.{name}.image` (the RPC model is read
from the GeoTIFF's GDAL RPC metadata), `input.pairing`, `input.roi` (the AOI as
GeoJSON), `output.{directory, resolution, epsg}` (UTM of the AOI; heights above
the EGM96 geoid, CARS's default) and `orchestrator.mode`. Without an initial
elevation model, the sparse matching's default disparity margins (-500/+1000 m)
exceed a small image and the first pass comes out empty: they are narrowed to
what the AOI can hold (`_margins`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

ORCHESTRATORS = ("sequential", "multiprocessing", "local_dask", "pbs_dask", "slurm_dask")
MIN_VALID_FRACTION = 0.10  # below this, "no usable surface" (not worth delivering)
POLL_S = 0.5
# CARS's own default margins (metres), an upper bound for ours.
DEFAULT_LOWER_MARGIN_M = 500
DEFAULT_UPPER_MARGIN_M = 1000


class EngineError(Exception):
    """The engine could not make a DSM. transient: worth retrying (resources, a killed worker)."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


@dataclass(frozen=True)
class EngineInput:
    images: list[Path]  # 2 or 3 GeoTIFFs with RPC tags, in acquisition order
    aoi_wgs84: BaseGeometry
    resolution_m: float
    orchestrator: str = "multiprocessing"
    workers: int = 1


@dataclass(frozen=True)
class EngineOutput:
    dsm_cog: Path
    hillshade_png: Path
    bbox: tuple[float, float, float, float]  # WGS 84 (west, south, east, north)
    epsg: int  # horizontal CRS of the COG
    vertical_reference: str  # "EGM96" (CARS's default) or "WGS84 ellipsoid"
    nodata: float
    valid_fraction: float  # valid pixels among those inside the AOI
    log_path: Path
    cars_version: str
    timings: dict[str, float] = field(default_factory=dict)  # seconds, by step


Progress = Callable[[int, str], None]


def cars_version() -> str:
    try:
        return metadata.version("cars")
    except metadata.PackageNotFoundError:
        return ""


def compute(job: EngineInput, workdir: Path, progress: Progress, *, timeout_s: int) -> EngineOutput:
    """Make a DSM of job.aoi_wgs84 from job.images; raise EngineError when it cannot."""
    started = time.monotonic()
    version = cars_version()
    if not version:
        raise EngineError("CARS is not installed on this worker (the dsm extra)", transient=False)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    aoi = _check_input(job)
    progress(1, "preparing")
    images = crop_to_aoi(job.images, aoi, workdir / "inputs")
    job = EngineInput(images, aoi, job.resolution_m, job.orchestrator, job.workers)
    geometry = _pair_geometry(job.images)
    config = build_config(job, aoi, workdir / "cars", geometry)
    config_path = workdir / "cars.json"
    config_path.write_text(json.dumps(config, indent=2))
    log_path = workdir / "cars.log"
    cars_started = time.monotonic()
    dsm_path = run_cars(config_path, log_path, progress, timeout_s=timeout_s, workers=job.workers)
    cars_ended = time.monotonic()

    progress(95, "writing the Cloud-Optimized GeoTIFF")
    from dinamis.dsm import raster  # rasterio: the worker's side only

    written = raster.write_cog(dsm_path, workdir / "dsm.tif", aoi, cars_version=version)
    if written.valid_fraction < MIN_VALID_FRACTION:
        raise EngineError(
            f"CARS found heights for {written.valid_fraction:.0%} of the area only "
            "(too little texture or overlap)",
            transient=False,
        )
    progress(98, "drawing the shaded relief")
    png = raster.write_quicklook(written.path, workdir / "hillshade.png")
    shutil.rmtree(workdir / "cars" / "intermediate_data", ignore_errors=True)
    progress(100, "done")
    return EngineOutput(
        dsm_cog=written.path,
        hillshade_png=png,
        bbox=written.bbox_wgs84,
        epsg=written.epsg,
        vertical_reference=written.vertical_reference,
        nodata=raster.NODATA,
        valid_fraction=written.valid_fraction,
        log_path=log_path,
        cars_version=version,
        timings={
            "prepare_s": cars_started - started,  # cut, geometry, configuration
            "cars_s": cars_ended - cars_started,  # the CARS process, followed
            "deliver_s": time.monotonic() - cars_ended,  # COG and quicklook
            "total_s": time.monotonic() - started,
        },
    )


# --- input and configuration ------------------------------------------------------------------


def _check_input(job: EngineInput) -> BaseGeometry:
    if not 2 <= len(job.images) <= 3:
        raise EngineError(f"a DSM needs 2 or 3 images, not {len(job.images)}", transient=False)
    for path in job.images:
        if not Path(path).is_file():
            raise EngineError(f"image not found: {Path(path).name}", transient=False)
    if job.orchestrator not in ORCHESTRATORS:
        raise EngineError(f"unknown orchestrator mode {job.orchestrator!r}", transient=False)
    if not (0.1 <= job.resolution_m <= 100):
        raise EngineError(f"resolution {job.resolution_m} m out of range", transient=False)
    aoi = job.aoi_wgs84
    if isinstance(aoi, MultiPolygon) and len(aoi.geoms) == 1:
        aoi = aoi.geoms[0]
    if not isinstance(aoi, Polygon) or aoi.is_empty or not aoi.is_valid:
        raise EngineError("the area of interest must be one valid polygon", transient=False)
    return aoi


@dataclass(frozen=True)
class _Geometry:
    gsd_m: float  # ground size of a pixel of the first image
    base_to_height: float  # the widest of the pairs
    size_px: tuple[int, int]  # smallest (width, height) of the images


def _pair_geometry(images: list[Path]) -> _Geometry:
    """GSD and base-to-height ratio from the images' RPC models (via GDAL, not CARS)."""
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.transform import RPCTransformer

    shifts = []
    gsd = 0.0
    sizes = []
    for path in images:
        try:
            with rasterio.open(path) as src:
                rpcs = src.rpcs
                sizes.append((src.width, src.height))
        except RasterioIOError as exc:
            raise EngineError(f"{Path(path).name} is not a readable image: {exc}") from exc
        if rpcs is None:
            raise EngineError(f"{Path(path).name} has no RPC model", transient=False)
        with RPCTransformer(rpcs) as tr:
            lon, lat, h = rpcs.long_off, rpcs.lat_off, rpcs.height_off
            r0, c0 = tr.rowcol([lon], [lat], zs=[h], op=lambda v: v)
            r1, c1 = tr.rowcol([lon], [lat], zs=[h + 100.0], op=lambda v: v)
            rx, cx = tr.rowcol([lon + 0.001], [lat], zs=[h], op=lambda v: v)
        metres_per_deg_lon = 111_320.0 * math.cos(math.radians(lat))
        pixels = math.hypot(rx[0] - r0[0], cx[0] - c0[0])
        pixel_m = 0.001 * metres_per_deg_lon / pixels if pixels else 1.0
        gsd = gsd or pixel_m
        # where a point 100 m up appears, in metres on the ground
        shifts.append(((r1[0] - r0[0]) * pixel_m, (c1[0] - c0[0]) * pixel_m))
    bh = max(
        math.hypot(a[0] - b[0], a[1] - b[1]) / 100.0
        for i, a in enumerate(shifts)
        for b in shifts[i + 1 :]
    )
    width = min(s[0] for s in sizes)
    height = min(s[1] for s in sizes)
    return _Geometry(gsd_m=gsd, base_to_height=bh, size_px=(width, height))


def _margins(geometry: _Geometry, aoi_extent_m: float) -> tuple[int, int]:
    """Sparse-matching disparity margins (metres): at most 1/8 of the matched width.

    A margin of m metres is m * B/H / GSD pixels of disparity; CARS's defaults
    (-500/+1000 m) are kept where the images are large enough to hold them.
    """
    width_px = min(min(geometry.size_px), aoi_extent_m / geometry.gsd_m)
    bh = max(geometry.base_to_height, 0.05)
    upper = int(min(DEFAULT_UPPER_MARGIN_M, width_px / 8 * geometry.gsd_m / bh))
    upper = max(upper, 20)
    lower = max(10, min(DEFAULT_LOWER_MARGIN_M, upper // 2))
    return lower, upper


CROP_MARGIN_PX = 32
CROP_HEIGHT_RANGE_M = 300.0


def crop_to_aoi(images: list[Path], aoi: BaseGeometry, out_dir: Path) -> list[Path]:
    """Cut each image down to what can see the AOI, its RPC model shifted to match.

    (CARS 1.3's own `input.roi` fails with a rectangular output resolution, and
    cutting first also spares it reading whole scenes.) The window holds the AOI
    seen at the RPC's mean height +- CROP_HEIGHT_RANGE_M, plus a margin.
    """
    import numpy as np
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.rpc import RPC
    from rasterio.transform import RPCTransformer
    from rasterio.windows import Window

    assert isinstance(aoi, Polygon)
    ring = np.asarray(aoi.segmentize(max(aoi.length / 200, 1e-6)).exterior.coords)
    out: list[Path] = []
    for index, path in enumerate(images):
        try:
            with rasterio.open(path) as src:
                rpcs = src.rpcs
                if rpcs is None:
                    raise EngineError(f"{Path(path).name} has no RPC model", transient=False)
                rows, cols = [], []
                spread = min(float(rpcs.height_scale), CROP_HEIGHT_RANGE_M)
                with RPCTransformer(rpcs) as tr:
                    for h in (rpcs.height_off - spread, rpcs.height_off + spread):
                        r, c = tr.rowcol(ring[:, 0], ring[:, 1], zs=[h] * len(ring), op=lambda v: v)
                        rows.extend(r)
                        cols.extend(c)
                row0 = max(0, math.floor(min(rows)) - CROP_MARGIN_PX)
                col0 = max(0, math.floor(min(cols)) - CROP_MARGIN_PX)
                row1 = min(src.height, math.ceil(max(rows)) + CROP_MARGIN_PX)
                col1 = min(src.width, math.ceil(max(cols)) + CROP_MARGIN_PX)
                if row1 - row0 < 2 * CROP_MARGIN_PX or col1 - col0 < 2 * CROP_MARGIN_PX:
                    raise EngineError(
                        f"the area of interest is outside {Path(path).name}", transient=False
                    )
                if (row0, col0, row1, col1) == (0, 0, src.height, src.width):
                    out.append(Path(path))
                    continue
                window = Window(col0, row0, col1 - col0, row1 - row0)
                data = src.read(window=window)
                profile = {
                    "driver": "GTiff",
                    "width": data.shape[2],
                    "height": data.shape[1],
                    "count": data.shape[0],
                    "dtype": data.dtype.name,
                    "nodata": src.nodata,
                    "tiled": True,
                    "blockxsize": 256,
                    "blockysize": 256,
                }
                shifted = rpcs.to_dict()
                shifted["line_off"] = float(shifted["line_off"]) - row0
                shifted["samp_off"] = float(shifted["samp_off"]) - col0
        except RasterioIOError as exc:
            raise EngineError(f"{Path(path).name} is not a readable image: {exc}") from exc
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"img{index + 1}.tif"
        import warnings

        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(target, "w", rpcs=RPC(**shifted), **profile) as dst:
                dst.write(data)
        out.append(target)
    return out


def utm_epsg(lon: float, lat: float) -> int:
    zone = int((lon + 180) // 6) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def build_config(
    job: EngineInput, aoi: BaseGeometry, out_dir: Path, geometry: _Geometry
) -> dict[str, Any]:
    names = [f"img{i + 1}" for i in range(len(job.images))]
    # consecutive images pair up: (forward, nadir), (nadir, backward) for a tri-stereo
    pairing = [[names[i], names[i + 1]] for i in range(len(names) - 1)]
    centre = aoi.centroid
    epsg = utm_epsg(centre.x, centre.y)
    west, south, east, north = aoi.bounds
    extent_m = min(
        (east - west) * 111_320.0 * math.cos(math.radians(centre.y)), (north - south) * 110_574.0
    )
    lower, upper = _margins(geometry, extent_m)
    orchestrator: dict[str, Any] = {"mode": job.orchestrator}
    if job.orchestrator != "sequential":
        orchestrator["nb_workers"] = max(1, int(job.workers))
    if job.orchestrator == "multiprocessing":
        orchestrator["max_ram_per_worker"] = 1000
    return {
        "input": {
            "sensors": {
                name: {"image": str(Path(path).resolve())}
                for name, path in zip(names, job.images, strict=True)
            },
            "pairing": pairing,
        },
        "output": {
            "directory": str(out_dir.resolve()),
            "resolution": float(job.resolution_m),
            "epsg": epsg,
        },
        "orchestrator": orchestrator,
        "tie_points": {
            "applications": {
                "all": {
                    "sparse_matching": {
                        "disparity_bounds_estimation": {
                            "lower_margin": lower,
                            "upper_margin": upper,
                        }
                    }
                }
            }
        },
    }


# --- running CARS -----------------------------------------------------------------------------

# Log lines of CARS 1.3 (--logtype plain). CARS works in passes at coarser epipolar
# resolutions first (1/16, 1/4, then full): a pass at 1/r gets a share of the bar by its
# cost (~1/r^2); within a pass, its stages advance through its share.
_START = re.compile(r"CARS pipeline is started")
_PASS = re.compile(r"Starting surface modeling pipeline for resolution 1/(\d+)")
_FORMATTING = re.compile(r"Starting formatting pipeline")
_DONE = re.compile(r"CARS has successfully completed")
_PASS_RANGES = {16: (6, 10), 8: (6, 12), 4: (10, 25), 2: (15, 35), 1: (25, 90)}
_STAGES: list[tuple[re.Pattern[str], float, str]] = [
    (re.compile(r"Started task tie_points"), 0.05, "tie points"),
    (re.compile(r"Started task generate_disparity_grids"), 0.15, "dense matching"),
    (re.compile(r"Started task disparity_to_depth_maps"), 0.75, "triangulation"),
    (re.compile(r"Started task rasterize_point_cloud"), 0.85, "rasterisation"),
]
_TILES = re.compile(
    r"Data list to process: (\d+)% complete \((\d+)/(\d+) tiles\)(?: \[run (\d+)/(\d+)\])?"
)

# Signs in the log that a retry may succeed (resources, a lost worker), not a bad input.
_TRANSIENT = re.compile(
    r"MemoryError|Cannot allocate memory|No space left on device|BrokenProcessPool|"
    r"KilledWorker|worker.*(died|killed|restart)|Resource temporarily unavailable|"
    r"TimeoutError|CommClosedError",
    re.IGNORECASE,
)


class _ProgressReader:
    """Follows CARS's log and turns its passes and stages into a percentage (never back)."""

    def __init__(self, log_path: Path, progress: Progress) -> None:
        self.log_path = log_path
        self.progress = progress
        self.offset = 0
        self.percent = 1
        self.partial = ""
        self.range = (3, 6)  # before the first pass: reading and subsampling the images
        self.pass_label = ""
        self.dense = False

    def _report(self, percent: int, message: str) -> None:
        if percent > self.percent:
            self.percent = percent
            self.progress(percent, message)

    def _at(self, fraction: float, stage: str) -> None:
        low, high = self.range
        self._report(int(low + (high - low) * fraction), f"{stage}{self.pass_label}")

    def poll(self) -> None:
        try:
            with self.log_path.open("r", errors="replace") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
                self.offset = fh.tell()
        except FileNotFoundError:
            return
        lines = (self.partial + chunk).split("\n")
        self.partial = lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        if _START.search(line):
            self._report(3, "reading the images")
        elif found := _PASS.search(line):
            r = int(found[1])
            self.range = _PASS_RANGES.get(r, (6, 12) if r > 4 else (25, 90))
            self.pass_label = "" if r == 1 else f" (at 1/{r} resolution)"
            self.dense = False
            self._at(0.0, "epipolar geometry")
        elif _FORMATTING.search(line):
            self._report(91, "formatting")
        elif _DONE.search(line):
            self._report(94, "CARS done")
        else:
            for pattern, fraction, stage in _STAGES:
                if pattern.search(line):
                    self.dense = stage == "dense matching"
                    self._at(fraction, stage)
                    return
            tiles = _TILES.search(line) if self.dense else None
            if tiles:
                pct, done, total = int(tiles[1]), int(tiles[2]), int(tiles[3])
                run, runs = int(tiles[4] or 1), int(tiles[5] or 1)
                share = ((run - 1) + pct / 100) / runs
                self._at(0.15 + 0.55 * share, f"dense matching, {done}/{total} tiles")


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """Stop CARS and everything it started (its workers, a local Dask cluster).

    Each process is frozen (SIGSTOP) before its children are listed, until the
    listing stops growing, so none can start another behind our back; then all
    are killed. (The worker also kills the whole process group, see dsm/runner.py.)
    """
    try:
        import psutil  # comes with CARS (through dask)
    except ImportError:  # pragma: no cover
        psutil = None
    if psutil is not None:
        frozen: dict[int, Any] = {}
        try:
            root = psutil.Process(process.pid)
            root.suspend()
            frozen[root.pid] = root
        except psutil.Error:
            root = None
        for _ in range(100):
            if root is None:
                break
            try:
                new = [p for p in root.children(recursive=True) if p.pid not in frozen]
            except psutil.Error:
                break
            if not new:
                break
            for proc in new:
                with contextlib.suppress(psutil.Error):
                    proc.suspend()
                frozen[proc.pid] = proc
        for proc in frozen.values():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(list(frozen.values()), timeout=10)  # gone before we return
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


def _child_env(workers: int) -> dict[str, str]:
    env = dict(os.environ)
    threads = str(max(1, int(workers)))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env.setdefault(name, threads)
    env.setdefault("MPLBACKEND", "Agg")
    # Dask's nanny starts its workers with MALLOC_TRIM_THRESHOLD_=65536
    # (distributed.nanny.pre-spawn-environ). Setting it also turns off glibc's dynamic
    # mmap threshold (large buffers are unmapped as soon as freed), and pandora 1.9's
    # cost_volume_confidence_cpp.compute_ambiguity_and_sampled_ambiguity then reads
    # memory it may not (most likely freed memory): every local_dask run segfaulted at
    # full-resolution dense matching. The same call on the same arrays (saved from a
    # crashing worker) runs in a plain process, and segfaults with only that variable
    # set. Unset it (None: the nanny leaves a variable out); the numeric libraries' one
    # thread stays.
    env.setdefault("DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON", '{"MALLOC_TRIM_THRESHOLD_": None}')
    return env


def cars_command(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "cars.cars", "--logtype", "plain", "--loglevel", "INFO",
            str(config_path)]  # fmt: skip


def run_cars(
    config_path: Path,
    log_path: Path,
    progress: Progress,
    *,
    timeout_s: int,
    workers: int = 1,
) -> Path:
    """Run CARS on a configuration; return its DSM file or raise EngineError.

    If `progress` raises (the caller cancelling the job), CARS is killed and the
    exception goes on.
    """
    config = json.loads(config_path.read_text())
    out_dir = Path(config["output"]["directory"])
    if out_dir.exists():
        shutil.rmtree(out_dir)  # a retry starts clean
    if str(config.get("orchestrator", {}).get("mode", "")).endswith("_dask"):
        # CARS 1.3 writes its Dask configuration there before making the directory
        (out_dir / "intermediate_data" / "subsampling").mkdir(parents=True)
    reader = _ProgressReader(log_path, progress)
    deadline = time.monotonic() + timeout_s
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
            cars_command(config_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(config_path.parent),
            env=_child_env(workers),
        )
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    _kill_tree(process)
                    raise EngineError(
                        f"CARS did not finish within the time limit ({timeout_s} s)",
                        transient=False,
                    )
                reader.poll()
                time.sleep(POLL_S)
            reader.poll()
        except BaseException:
            if process.poll() is None:
                _kill_tree(process)
            raise
    code = process.returncode
    dsm = out_dir / "dsm" / "dsm.tif"
    if code == 0 and dsm.is_file():
        return dsm
    tail = _tail(log_path)
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else code
        raise EngineError(f"CARS was stopped by signal {name}", transient=True)
    if code == 0:
        raise EngineError("CARS ended without writing a DSM", transient=False)
    last = _last_error(tail)
    raise EngineError(
        f"CARS failed (exit status {code}): {last}", transient=bool(_TRANSIENT.search(tail))
    )


def _tail(path: Path, size: int = 20_000) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - size))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _last_error(tail: str) -> str:
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"Error|Exception|CRITICAL", line):
            return line[-300:]
    return lines[-1][-300:] if lines else "no log"
