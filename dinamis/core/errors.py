"""Domain errors and the HTML / JSON error pages."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, ClassVar, NoReturn

from flask import Flask, Response, abort, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException

from dinamis.core.transaction import is_retryable, rollback
from dinamis.extensions import login_manager

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A business rule refused an action; the message is for the user.

    `fields` maps form or JSON field names to their own messages. Each kind of
    refusal names its HTTP status and its code on its class line
    (`class NotFound(ServiceError, status=404, code="not_found")`); what a
    subclass does not name, it keeps from its parent.
    """

    status: ClassVar[int] = 422
    code: ClassVar[str] = "invalid"

    def __init_subclass__(
        cls, *, status: int | None = None, code: str | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(ServiceError, status=404, code="not_found"):
    """No such thing, or none the user may know of."""


class Forbidden(ServiceError, status=403, code="forbidden"):
    """The user may not do this."""


class Conflict(ServiceError, status=409, code="conflict"):
    """Not in the state this needs (already decided, already used, too many)."""


class BadRequest(ServiceError, status=400, code="bad_request"):
    """A query that cannot be answered as asked (bad bbox, filter, sort)."""


class MalformedInput(ServiceError, status=400, code="malformed_json"):
    """The request itself cannot be read (malformed JSON, wrong content type)."""


ERROR_TITLES = {
    400: _l("Bad request"),
    401: _l("Sign-in required"),
    403: _l("Access denied"),
    404: _l("Page not found"),
    410: _l("No longer available"),
    405: _l("Method not allowed"),
    409: _l("Conflict"),
    413: _l("Too large"),
    422: _l("The request could not be processed"),
    429: _l("Too many requests"),
    500: _l("Internal error"),
    503: _l("Service unavailable"),
}
ERROR_TEXTS = {
    400: _l("The request was malformed."),
    401: _l("You need to sign in to see this page."),
    403: _l("You are not allowed to see this page or to do this."),
    404: _l("The page you asked for does not exist or was moved."),
    410: _l("This link has expired."),
    405: _l("This address does not accept this method."),
    409: _l("This change conflicts with the current state of the data."),
    413: _l("What you sent is larger than the limit allowed."),
    422: _l("Some of what you sent is not valid."),
    429: _l("You sent too many requests. Please wait a moment and try again."),
    500: _l("Something went wrong on our side. The team has been told; please try again later."),
    503: _l("The service is temporarily unavailable. Please try again later."),
}
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


DATABASE_DOWN = _l("The database cannot be reached. Please try again in a minute.")
DATABASE_RETRY_AFTER = 30  # seconds
STATEMENT_CANCELLED = _l(
    "This request took too long and was stopped. Please try again in a moment."
)
STATEMENT_RETRY_AFTER = 5  # seconds


def database_is_down(exc: BaseException) -> bool:
    """The database cannot be reached or refuses connections (as opposed to refusing a statement).

    No SQLSTATE (the connection failed or broke), class 08 (connection
    exception), 57P01-57P03 (shut down, crashed, starting), 53300 (too many
    connections), or the pool found no free connection in time.
    """
    if isinstance(exc, SQLAlchemyTimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None)
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03", "53300")


def wants_json() -> bool:
    return (
        request.path.startswith(("/api/", "/stac"))
        or request.path in ("/healthz",)
        or request.is_json
        or request.headers.get("Authorization", "").lower().startswith("bearer ")
        or request.accept_mimetypes.best == "application/json"
    )


def is_stac_request() -> bool:
    """A request to the STAC API, whose errors take the OGC API shape."""
    return request.path == "/stac" or request.path.startswith("/stac/")


def json_error(
    status: int, message: str, *, code: str | None = None, fields: dict[str, Any] | None = None
) -> Response:
    if is_stac_request():  # OGC API exception: {"code", "description"}
        response = jsonify(
            {"code": code or ERROR_CODES.get(status, "error"), "description": message}
        )
        response.status_code = status
        return response
    body: dict[str, Any] = {
        "error": {"code": code or ERROR_CODES.get(status, "error"), "message": message}
    }
    if fields:
        body["error"]["fields"] = fields
    response = jsonify(body)
    response.status_code = status
    return response


def refuse(status: int, message: str) -> NoReturn:
    """Abort with `status`, telling the user `message` (in their language) on the
    error page or in the JSON answer, instead of the status's generic text.

    (A `description` given to Flask's `abort` is not shown: Werkzeug sets its own
    English ones too, which the handler below cannot tell from ours.)
    """
    try:
        abort(status)
    except HTTPException as exc:
        exc.dinamis_message = message  # type: ignore[attr-defined]
        raise


def render_error(status: int, message: str | None = None) -> tuple[str, int]:
    title = ERROR_TITLES.get(status, ERROR_TITLES[500])
    text = message or ERROR_TEXTS.get(status, ERROR_TEXTS[500])
    return render_template("errors/error.html", status=status, title=title, text=text), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        described = getattr(exc, "dinamis_message", None)
        response: Response | tuple[str, int]
        if wants_json():
            message = described or str(ERROR_TEXTS.get(status, exc.description or exc.name))
            response = json_error(status, message)
        else:
            response = render_error(status, described)
        if status == 405 and isinstance(exc, HTTPException):
            headers = exc.get_response().headers
            if "Allow" in headers:
                resp = app.make_response(response)
                resp.headers["Allow"] = headers["Allow"]
                return resp
        if status == 429 and exc.response is not None:
            resp = app.make_response(response)
            for header in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"):
                if header in exc.response.headers:
                    resp.headers[header] = exc.response.headers[header]
            return resp
        return response

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Any:
        if wants_json():
            return json_error(exc.status, exc.message, code=exc.code, fields=exc.fields)
        return render_error(exc.status, exc.message)

    @app.errorhandler(DataError)
    def _data_error(exc: DataError) -> Any:
        # A number the column cannot hold (an id beyond PostgreSQL's integer in a
        # query string, say) that no check caught earlier: the request is at fault.
        if getattr(exc.orig, "sqlstate", None) != "22003":
            return _unexpected(exc)
        log.warning("number out of range: %s", str(exc.orig).splitlines()[0])
        message = str(_l("A number in the request is out of range."))
        if wants_json():
            return json_error(400, message, code="out_of_range")
        return render_error(400, message)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(SQLAlchemyTimeoutError)
    def _database_unavailable(exc: Exception) -> Any:
        if is_retryable(exc):  # met again on the second attempt: let the client retry
            log.warning("conflict after a retry: %s", type(getattr(exc, "orig", exc)).__name__)
            rollback()
            message = str(_l("Another change to the same data was being made. Please try again."))
            return _unavailable(message, retry_after=1)
        if getattr(getattr(exc, "orig", None), "sqlstate", None) == "57014":
            # statement_timeout (or a cancel): the database is up but the work took too long
            log.warning("statement cancelled: %s", str(getattr(exc, "orig", exc)).splitlines()[:1])
            rollback()
            return _unavailable(str(STATEMENT_CANCELLED), retry_after=STATEMENT_RETRY_AFTER)
        if not database_is_down(exc):
            return _unexpected(exc)
        log.error("database unavailable: %s", str(getattr(exc, "orig", exc)).splitlines()[:1])
        with contextlib.suppress(DBAPIError):  # the connection is gone: nothing to roll back
            rollback()
        # The page must not read the database again (the signed-in user, say).
        g._login_user = login_manager.anonymous_user()
        return _unavailable(str(_l(DATABASE_DOWN)), retry_after=DATABASE_RETRY_AFTER)

    def _unavailable(message: str, *, retry_after: int) -> Response:
        if wants_json():
            response = json_error(503, message)
        else:
            response = app.make_response(render_error(503, message))
        response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error")
        rollback()  # the error page reads the signed-in user: not in an aborted transaction
        if wants_json():
            return json_error(500, str(ERROR_TEXTS[500]))
        return render_error(500)
