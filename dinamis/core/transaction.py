"""One commit per request (or CLI command), side effects after the commit.

Services flush and never commit. A request that ends with a status below 400
is committed once; anything else (an error status or an exception) is rolled
back, so a refused request never leaves a partial write. Work registered with
`after_commit` (sending e-mail, writing files) runs only once the commit has
succeeded.

A request whose transaction PostgreSQL aborts for a deadlock or a
serialization failure (the other transaction went first) is rolled back and
run once more from the start; the second attempt sees what the first one
waited for and acts on it, or says why it cannot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask, Response, g, request
from sqlalchemy.exc import DBAPIError

from dinamis.extensions import db

log = logging.getLogger(__name__)


def after_commit(callback: Callable[[], object]) -> None:
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


# serialization_failure, deadlock_detected: the transaction may succeed if run again
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def is_retryable(exc: BaseException) -> bool:
    """A database error that running the whole transaction again may not meet."""
    return isinstance(exc, DBAPIError) and (
        getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES
    )


def _retry_once(app: Flask) -> None:
    """Run the view and its commit again, once, after a deadlock or serialization failure.

    The commit of a successful answer happens here, inside the attempt, so a
    conflict met at commit time is retried too (the after-request commit then
    has nothing left to do).
    """
    dispatch = app.dispatch_request

    def attempt() -> Response:
        response = app.make_response(dispatch())
        if response.status_code < 400:
            commit()
        return response

    def dispatch_request() -> Response:
        try:
            return attempt()
        except DBAPIError as exc:
            if not is_retryable(exc):
                raise
            log.warning(
                "%s %s: %s, run once more",
                request.method,
                request.path,
                exc.orig.__class__.__name__,
            )
            rollback()
            for upload in request.files.values():
                upload.stream.seek(0)
            return attempt()

    app.dispatch_request = dispatch_request  # type: ignore[method-assign]


def init_app(app: Flask) -> None:
    _retry_once(app)

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
