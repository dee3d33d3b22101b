"""The application for gunicorn, built from the environment (DATABASE_URL, DINAMIS_*).

    gunicorn --chdir bench/orders wsgi:app

`bench/orders/run.py` starts it this way against its scratch database.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dinamis.wsgi import make_app

app = make_app()  # as production serves it: create_app, then gc.freeze()
