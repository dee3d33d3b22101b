"""The web processes never import CARS: only the DSM worker's child process runs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CHECK = textwrap.dedent(
    """
    import importlib.util, sys
    assert importlib.util.find_spec("cars"), "CARS is installed (the dsm extra)"
    from dinamis import create_app
    import dinamis.dsm.engine  # the engine module itself imports CARS lazily (not at all)
    app = create_app({
        "env": "test", "database_url": sys.argv[1], "storage_root": sys.argv[2],
        "secret_key": "isolation-" + "x" * 32, "log_json": False, "log_level": "WARNING",
    })
    with app.test_client() as client:
        for url in ("/", "/login", "/api/v1/"):
            assert client.get(url).status_code < 500, url
    loaded = sorted(m for m in ("cars", "pandora", "shareloc", "dask.distributed")
                    if m in sys.modules)
    print("LOADED", loaded)
    """
)


def test_web_process_does_not_import_cars(database_url: str, tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", CHECK, database_url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LOADED []" in done.stdout, done.stdout
