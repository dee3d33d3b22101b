"""Write the README's table of API operations from the OpenAPI document.

python scripts/api_readme.py          # rewrite the table in README.md
python scripts/api_readme.py --check  # exit 1 when it differs (tests do the same)
"""

from __future__ import annotations

import sys
from pathlib import Path

from dinamis import create_app
from dinamis.api.openapi import build, readme_table

START, END = "<!-- api-operations:start -->", "<!-- api-operations:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> int:
    app = create_app({"env": "test", "secret_key": "x" * 48, "log_json": False})
    with app.app_context():
        table = readme_table(build())
    text = README.read_text()
    head, rest = text.split(START, 1)
    _old, tail = rest.split(END, 1)
    new = f"{head}{START}\n{table}\n{END}{tail}"
    if "--check" in sys.argv:
        return 0 if new == text else 1
    README.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
