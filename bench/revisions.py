"""The code of an earlier git revision of this repository, to serve beside this tree's
(bench/orders/run.py --before, bench/catalogue/compare.py --before)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def extract(revision: str, into: Path) -> Path:
    """The code of `revision` in `into` (unless already there), its translations compiled."""
    if not (into / "dinamis").is_dir():
        into.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "archive", "--format=tar", revision],  # noqa: S607
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)  # noqa: S603, S607
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            "from babel.messages.frontend import main; main()",
            "compile",
            "--use-fuzzy",
            "-d",
            str(into / "dinamis" / "translations"),
        ],
        check=True,
        capture_output=True,
    )
    return into
