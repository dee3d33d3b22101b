"""`python -m dinamis.dsm.runner`: run the engine once, in a process group of its own.

The worker's task starts this process (the web processes never import the
engine, nor does the worker itself): it reads its input as JSON on stdin,
calls `compute(EngineInput, workdir, progress, timeout_s=...)` of the
configured engine ("module:function", DINAMIS_DSM_ENGINE), and writes one
JSON line per progress report, then one with the output or the error, on
stdout. Being the leader of its own process group, it and every process CARS
starts are stopped together (`os.killpg`) when the request is cancelled, the
time limit passes or the worker dies (SIGTERM, see `_die_with_parent`).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _stop_group(signum: int, frame: FrameType | None) -> None:
    os.killpg(0, signal.SIGKILL)  # CARS's own processes with us


def _die_with_parent() -> None:
    """On Linux: be sent SIGTERM when the worker that started us dies."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def output_record(out: Any) -> dict[str, Any]:
    return {
        "dsm_cog": str(out.dsm_cog),
        "hillshade_png": str(out.hillshade_png),
        "bbox": [float(v) for v in out.bbox],
        "epsg": int(out.epsg),
        "vertical_reference": str(out.vertical_reference),
        "nodata": float(out.nodata),
        "valid_fraction": float(out.valid_fraction),
        "log_path": str(out.log_path) if out.log_path else "",
        "cars_version": str(out.cars_version),
    }


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_group)
    spec = json.loads(sys.stdin.read())
    from shapely import wkt
    from shapely.geometry import MultiPolygon

    module_name, _sep, function = spec["engine"].partition(":")
    try:
        module = importlib.import_module(module_name)
        compute = getattr(module, function)
        engine_input = module.EngineInput
        engine_error: type[BaseException] = getattr(module, "EngineError", RuntimeError)
    except (ImportError, AttributeError) as exc:
        _emit({"error": f"the engine {spec['engine']} cannot be loaded: {exc}", "transient": False})
        return 2
    aoi = wkt.loads(spec["aoi_wkt"])
    if isinstance(aoi, MultiPolygon) and len(aoi.geoms) == 1:
        aoi = aoi.geoms[0]
    job = engine_input(
        images=[Path(p) for p in spec["images"]],
        aoi_wgs84=aoi,
        resolution_m=float(spec["resolution_m"]),
        orchestrator=spec["orchestrator"],
        workers=int(spec["workers"]),
    )
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)

    def progress(percent: int, message: str) -> None:
        _emit({"progress": int(percent), "message": str(message)[:200]})

    try:
        out = compute(job, workdir, progress, timeout_s=int(spec["timeout_s"]))
    except engine_error as exc:
        _emit(
            {
                "error": str(getattr(exc, "message", None) or exc),
                "transient": bool(getattr(exc, "transient", False)),
            }
        )
        return 3
    except Exception as exc:  # an engine bug: told to staff with where it came from
        trace = traceback.format_exc()[-4000:]
        _emit({"error": f"{type(exc).__name__}: {exc}\n{trace}", "transient": False})
        return 4
    _emit({"output": output_record(out)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
