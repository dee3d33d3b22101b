"""The application as a WSGI server runs it: built once, its start-up objects frozen.

    gunicorn "dinamis.wsgi:make_app()"

A built application holds ~225,000 long-lived objects (modules, mappers,
templates, translations) that Python's cyclic garbage collector would walk
again at every full collection: ~100 ms of CPU each, falling in whichever
request happens to allocate past the threshold (the statistics dashboard's
1,000-row table did, one request in twenty; bench/reports/README.md).
`gc.freeze()` moves them out of the collector's generations once, after the
garbage of the start-up is collected; later objects are collected as before.
With gunicorn's --preload the frozen objects are also never written to by
the collector, so forked workers keep sharing their pages.
"""

from __future__ import annotations

import gc
from typing import Any

from flask import Flask
from sqlalchemy.orm import configure_mappers

from dinamis import create_app
from dinamis.config import Settings


def make_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    """`create_app(config)`, its mappers configured, then the start-up's objects frozen."""
    app = create_app(config)
    configure_mappers()  # done lazily at the first query otherwise, after the freeze
    gc.collect()
    gc.freeze()
    return app
