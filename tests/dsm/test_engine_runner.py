"""The engine's handling of CARS as a process: progress, success, failures, time limit, kill.

A stand-in command (a small Python script with CARS's log lines) takes CARS's place
through `cars_command`, so these run in a second; the real CARS runs in
test_engine_accuracy.py.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest
from shapely.geometry import box

from dinamis.dsm import engine
from dinamis.dsm.engine import EngineError, EngineInput

SCRIPT = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    conf = json.load(open(sys.argv[-1]))
    out = conf["output"]["directory"]
    mode = os.environ["FAKE_CARS"]
    if mode == "hang":  # a stand-in for CARS's workers, started first
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open(os.environ["FAKE_PIDS"], "w").write(f"{os.getpid()} {child.pid}")
    def log(msg):
        print("2026-12-07 10:00:00,000 :: INFO :: " + msg, flush=True)
    log("CARS pipeline is started.")
    log("Starting surface modeling pipeline for resolution 1/1")
    log("Started task tie_points in pipeline Tie Points, total: 4")
    log("Started task generate_disparity_grids in pipeline surface_modeling_res1, total: 2")
    for i in range(1, 5):
        log(f"Data list to process: {i * 25}% complete ({i}/4 tiles) [run 1/1]")
    if mode == "ok":
        print("2026-12-07 10:00:00,000 :: ERROR :: disp_max (27.0) is greater than ...")
        os.makedirs(out + "/dsm")
        open(out + "/dsm/dsm.tif", "wb").write(b"x")
        log("CARS has successfully completed the pipeline.")
    elif mode == "fail":
        print("ValueError: no tie points were found", file=sys.stderr)
        sys.exit(1)
    elif mode == "oom":
        print("MemoryError", file=sys.stderr)
        sys.exit(1)
    elif mode == "nodsm":
        log("CARS has successfully completed the pipeline.")
    elif mode == "hang":
        time.sleep(600)
    """
)


@pytest.fixture
def fake_cars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake_cars.py"
    script.write_text(SCRIPT)
    monkeypatch.setattr(
        engine, "cars_command", lambda conf: [sys.executable, str(script), str(conf)]
    )
    conf = tmp_path / "cars.json"
    conf.write_text(json.dumps({"output": {"directory": str(tmp_path / "out")}}))
    return conf


def run(conf: Path, mode: str, monkeypatch: pytest.MonkeyPatch, **kw: object) -> tuple[Path, list]:
    monkeypatch.setenv("FAKE_CARS", mode)
    calls: list[tuple[int, str]] = []
    dsm = engine.run_cars(
        conf, conf.parent / "cars.log", lambda p, m: calls.append((p, m)), **{"timeout_s": 60, **kw}
    )
    return dsm, calls


def test_success_is_exit_status_and_dsm_file_despite_error_lines(
    fake_cars: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsm, calls = run(fake_cars, "ok", monkeypatch)
    assert dsm == fake_cars.parent / "out" / "dsm" / "dsm.tif"
    percents = [p for p, _ in calls]
    assert percents == sorted(set(percents))
    assert ("dense matching, 2/4 tiles") in [m for _, m in calls]
    assert percents[-1] == 94
    assert "ERROR" in (fake_cars.parent / "cars.log").read_text()  # kept for staff


@pytest.mark.parametrize(
    ("mode", "transient", "words"),
    [
        ("fail", False, "no tie points"),
        ("oom", True, "MemoryError"),
        ("nodsm", False, "without writing a DSM"),
    ],
)
def test_failures(
    fake_cars: Path, monkeypatch: pytest.MonkeyPatch, mode: str, transient: bool, words: str
) -> None:
    with pytest.raises(EngineError) as caught:
        run(fake_cars, mode, monkeypatch)
    assert caught.value.transient is transient
    assert words in caught.value.message


def _gone(pid: int) -> bool:
    """Dead (or a zombie), waiting a little: a killed process takes a moment to go."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read()
    except OSError:
        return "gone"


def _wait_pids(path: Path) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return [int(p) for p in path.read_text().split()]
        time.sleep(0.05)
    raise AssertionError("the stand-in never started")


def test_time_limit_kills_cars_and_its_children(
    fake_cars: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAKE_PIDS", str(tmp_path / "pids"))
    started = time.monotonic()
    with pytest.raises(EngineError) as caught:
        run(fake_cars, "hang", monkeypatch, timeout_s=10)
    assert time.monotonic() - started < 40
    assert not caught.value.transient
    assert "time limit" in caught.value.message
    pids = _wait_pids(tmp_path / "pids")
    assert all(_gone(pid) for pid in pids), [(p, _state(p)) for p in pids]


def test_a_raising_progress_callback_cancels(
    fake_cars: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The caller stops the job by raising from progress(): CARS is killed, the error goes on."""
    monkeypatch.setenv("FAKE_CARS", "hang")
    monkeypatch.setenv("FAKE_PIDS", str(tmp_path / "pids"))

    class Cancelled(Exception):
        pass

    def progress(percent: int, message: str) -> None:
        if percent >= 20:
            raise Cancelled

    with pytest.raises(Cancelled):
        engine.run_cars(fake_cars, tmp_path / "cars.log", progress, timeout_s=60)
    pids = _wait_pids(tmp_path / "pids")
    assert all(_gone(pid) for pid in pids), [(p, _state(p)) for p in pids]


def test_bad_input_is_refused_before_cars(tmp_path: Path) -> None:
    aoi = box(1.44, 43.60, 1.45, 43.61)
    one = tmp_path / "a.tif"
    one.write_bytes(b"")
    cases = [
        EngineInput(images=[one], aoi_wgs84=aoi, resolution_m=1.0),
        EngineInput(images=[one, tmp_path / "missing.tif"], aoi_wgs84=aoi, resolution_m=1.0),
        EngineInput(images=[one, one], aoi_wgs84=aoi, resolution_m=1.0, orchestrator="yarn"),
        EngineInput(images=[one, one], aoi_wgs84=aoi, resolution_m=0.0),
        EngineInput(images=[one, one], aoi_wgs84=aoi.buffer(-1), resolution_m=1.0),
        EngineInput(images=[one, one], aoi_wgs84=aoi, resolution_m=1.0),  # not a TIFF
    ]
    for job in cases:
        with pytest.raises(EngineError) as caught:
            engine.compute(job, tmp_path / "w", lambda p, m: None, timeout_s=10)
        assert caught.value.transient is False


def test_configuration(tmp_path: Path) -> None:
    from dinamis.dsm import synthetic

    site = synthetic.Site("conf", lon0=1.4442, lat0=43.6045, ground_m=196.0, size_px=160)
    spec = synthetic.write_stereo(tmp_path, site, (synthetic.FORWARD, synthetic.NADIR,
                                                    synthetic.BACKWARD))  # fmt: skip
    geometry = engine._pair_geometry(spec.images)
    assert geometry.gsd_m == pytest.approx(0.5, rel=0.01)
    assert geometry.base_to_height == pytest.approx(spec.base_to_height, rel=0.01)
    job = EngineInput(spec.images, spec.footprint_wgs84, 1.0, "local_dask", 3)
    conf = engine.build_config(job, spec.footprint_wgs84, tmp_path / "out", geometry)
    assert list(conf["input"]["sensors"]) == ["img1", "img2", "img3"]
    assert conf["input"]["pairing"] == [["img1", "img2"], ["img2", "img3"]]
    assert conf["orchestrator"] == {"mode": "local_dask", "nb_workers": 3}
    assert conf["output"]["epsg"] == 32631
    assert conf["output"]["resolution"] == 1.0
    margins = conf["tie_points"]["applications"]["all"]["sparse_matching"][
        "disparity_bounds_estimation"
    ]
    # 80 m wide: 160 px / 8 = 20 px of disparity, 20 px * 0.5 m / 0.3 = 33 m
    assert 20 <= margins["upper_margin"] <= 40
    assert margins["lower_margin"] == max(10, margins["upper_margin"] // 2)
    big = engine._Geometry(gsd_m=0.5, base_to_height=0.3, size_px=(40000, 40000))
    assert engine._margins(big, 20000) == (500, 1000)  # CARS's defaults where they fit
