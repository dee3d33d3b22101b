"""DSM engine bench: wall time, CPU time and peak memory of a CARS computation against image
size, and the platform's overhead over CARS run by hand on the same input.

For each size, a synthetic pair (0.5 m, B/H 0.3) is generated, then, alternately:
- "by hand": `python -m cars.cars conf.json` with the very configuration the engine
  writes (written once by `dinamis.dsm.engine.build_config`), nothing else;
- "engine": `dinamis.dsm.engine.compute()` as the worker calls it (input checks,
  geometry from the RPCs, configuration, CARS in a subprocess followed through its
  log, COG and shaded-relief quicklook).
Memory is the peak of the summed resident sizes of the whole process tree (CARS and
its workers), sampled every 0.1 s; CPU is that tree's, plus the engine's own thread
(thread_time: the sampler's thread is not counted).

    .venv/bin/python bench/dsm/run.py --sizes 320 640 960 --repeat 2 --mode multiprocessing
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from dinamis.dsm import engine, synthetic


class TreeSampler:
    """Peak summed RSS and total CPU of this process's descendants while running."""

    def __init__(self) -> None:
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in me.children(recursive=True):
                try:
                    with proc.oneshot():
                        total += proc.memory_info().rss
                        t = proc.cpu_times()
                        self.cpu[proc.pid] = t.user + t.system
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.1)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values())


def by_hand(config_path: Path) -> dict[str, float]:
    conf = json.loads(config_path.read_text())
    out = Path(conf["output"]["directory"])
    subprocess.run(["rm", "-rf", str(out)], check=True)  # noqa: S603, S607
    with TreeSampler() as sampler:
        t0 = time.perf_counter()
        with (config_path.parent / "hand.log").open("wb") as log:
            subprocess.run(engine.cars_command(config_path), stdout=log, stderr=log, check=True)  # noqa: S603
        wall = time.perf_counter() - t0
    assert (out / "dsm" / "dsm.tif").is_file()
    return {"wall_s": wall, "cpu_s": sampler.cpu_s, "peak_mb": sampler.peak / 2**20}


def through_engine(job: engine.EngineInput, workdir: Path) -> dict[str, float]:
    with TreeSampler() as sampler:
        t0 = time.perf_counter()
        c0 = time.thread_time()  # this thread only: not the sampler's
        out = engine.compute(job, workdir, lambda p, m: None, timeout_s=3600)
        own_cpu = time.thread_time() - c0
        wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "cpu_s": sampler.cpu_s + own_cpu,
        "own_cpu_s": own_cpu,
        "peak_mb": sampler.peak / 2**20,
        "valid": out.valid_fraction,
        **out.timings,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 640, 960])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--mode", default="multiprocessing")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="dsm-bench-") as tmp:
        for size in args.sizes:
            site = synthetic.Site(f"bench{size}", lon0=1.4442, lat0=43.6045, ground_m=196.0,
                                  size_px=size, seed=size)  # fmt: skip
            spec = synthetic.write_stereo(Path(tmp) / "images", site)
            job = engine.EngineInput(
                spec.images, spec.footprint_wgs84, 0.5, args.mode, args.workers
            )
            hand_dir = Path(tmp) / f"hand{size}"
            hand_dir.mkdir()
            geometry = engine._pair_geometry(job.images)
            conf = engine.build_config(job, spec.footprint_wgs84, hand_dir / "cars", geometry)
            (hand_dir / "cars.json").write_text(json.dumps(conf))
            runs: dict[str, list[dict[str, float]]] = {"hand": [], "engine": []}
            for i in range(args.repeat):
                order = ("hand", "engine") if i % 2 == 0 else ("engine", "hand")
                for kind in order:
                    if kind == "hand":
                        runs["hand"].append(by_hand(hand_dir / "cars.json"))
                    else:
                        runs["engine"].append(through_engine(job, Path(tmp) / f"eng{size}_{i}"))
                    print(size, kind, runs[kind][-1], flush=True)
            row = {"size_px": size, "megapixels": size * size / 1e6}
            for kind, rs in runs.items():
                for key in ("wall_s", "cpu_s", "peak_mb"):
                    row[f"{kind}_{key}"] = statistics.median(r[key] for r in rs)
            row["overhead_wall"] = row["engine_wall_s"] / row["hand_wall_s"] - 1
            row["overhead_cpu"] = row["engine_cpu_s"] / row["hand_cpu_s"] - 1
            results.append(row)
            print(json.dumps(row), flush=True)
    print(
        "\n| image | Mpx | CARS by hand wall / CPU | engine wall / CPU | peak memory | "
        "overhead wall / CPU |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['size_px']}² | {r['megapixels']:.2f} | {r['hand_wall_s']:.1f} s / "
            f"{r['hand_cpu_s']:.1f} s | {r['engine_wall_s']:.1f} s / {r['engine_cpu_s']:.1f} s | "
            f"{r['engine_peak_mb']:.0f} MB | {r['overhead_wall']:+.1%} / {r['overhead_cpu']:+.1%} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
