"""A stand-in for dinamis.dsm.engine with the same interface, for the product's tests.

What it does is set by DSM_FAKE in its environment (the worker's):
`ok` (default) writes a small float TIFF and a PNG after reporting progress;
`slow` reports progress every 0.2 s for DSM_FAKE_SECONDS (default 60) before
writing them, and starts a child process (a stand-in for CARS's own workers)
whose pid it writes to DSM_FAKE_PIDFILE; `fail` raises a permanent EngineError;
`transient` a transient one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image


@dataclass
class EngineInput:
    images: list[Path]
    aoi_wgs84: Any
    resolution_m: float
    orchestrator: str = "multiprocessing"
    workers: int = 1


@dataclass
class EngineOutput:
    dsm_cog: Path
    hillshade_png: Path
    bbox: tuple[float, float, float, float]
    epsg: int
    vertical_reference: str
    nodata: float
    valid_fraction: float
    log_path: Path
    cars_version: str


class EngineError(Exception):
    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


def compute(
    job: EngineInput,
    workdir: Path,
    progress: Callable[[int, str], None],
    *,
    timeout_s: int,
) -> EngineOutput:
    mode = os.environ.get("DSM_FAKE", "ok")
    assert len(job.images) in (2, 3) and all(p.is_file() for p in job.images), job.images
    log_path = workdir / "cars.log"
    log_path.write_text(f"fake CARS on {[p.name for p in job.images]} at {job.resolution_m} m\n")
    progress(5, "sparse matching")
    if mode == "fail":
        raise EngineError("no tie points found between the views")
    if mode == "transient":
        raise EngineError("out of memory", transient=True)
    if mode == "slow":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        pidfile = os.environ.get("DSM_FAKE_PIDFILE")
        if pidfile:
            Path(pidfile).write_text(str(child.pid))
        seconds = float(os.environ.get("DSM_FAKE_SECONDS", "60"))
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            done = (time.monotonic() - start) / seconds
            progress(5 + int(done * 90), "dense matching")
            time.sleep(0.2)
        child.kill()
    progress(95, "rasterization")
    dsm = workdir / "dsm.tif"
    Image.new("F", (8, 8), 42.0).save(dsm, "TIFF")
    shade = workdir / "hillshade.png"
    Image.new("L", (8, 8), 128).save(shade, "PNG")
    minx, miny, maxx, maxy = job.aoi_wgs84.bounds
    return EngineOutput(
        dsm_cog=dsm,
        hillshade_png=shade,
        bbox=(minx, miny, maxx, maxy),
        epsg=32631,
        vertical_reference="EGM96",
        nodata=-32768.0,
        valid_fraction=0.97,
        log_path=log_path,
        cars_version="1.3.0-fake",
    )
