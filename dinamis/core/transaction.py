"""One commit per request (or CLI command), side effects after the commit.

Services flush and never commit. A request that ends with a status below 400
is committed once; anything else (an error status or an exception) is rolled
back, so a refused request never leaves a partial write. Work registered with
`after_commit` (sending e-mail, writing files) runs only once the commit has
succeeded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask, Response, g

from dinamis.extensions import db

log = logging.getLogger(__name__)


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` after the current request's (or command's) commit."""
    g.setdefault("_after_commit", []).append(callback)


def _run_after_commit() -> None:
    callbacks: list[Callable[[], None]] = g.pop("_after_commit", [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # a side effect must never undo a committed request
            log.exception("after-commit task failed")


def commit() -> None:
    """Commit the current session and run the after-commit work."""
    if db.has_session():
        db.session.commit()
    _run_after_commit()


def rollback() -> None:
    g.pop("_after_commit", None)
    if db.has_session():
        db.session.rollback()


@contextmanager
def transaction() -> Iterator[None]:
    """For CLI commands and jobs: commit at the end, roll back on error."""
    try:
        yield
    except BaseException:
        rollback()
        raise
    commit()


def init_app(app: Flask) -> None:
    @app.after_request
    def _commit_or_rollback(response: Response) -> Response:
        if response.status_code < 400:
            commit()
        else:
            rollback()
        return response

    @app.teardown_request
    def _rollback_on_error(exc: BaseException | None) -> None:
        if exc is not None:
            rollback()
