"""Small helpers shared by the web views."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote, urlsplit

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from dinamis import config
from dinamis.core.errors import ServiceError
from dinamis.core.idempotency import Earlier, FormClaim, claim_form, new_token
from dinamis.core.loading import status_filter

if TYPE_CHECKING:
    from dinamis.accounts.models import Visitor


def is_local_path(target: str) -> bool:
    """True for a path on this site ("/orders/3?x=1"), never for another origin.

    Browsers read "//host", "/\\host", "\\\\host" and "http:host" as other origins, and
    drop tabs and newlines before reading a URL, so a path must start with one "/",
    hold no backslash, no control character and no space, and name no scheme or host.
    """
    if not target.startswith("/") or target.startswith("//"):
        return False
    if any(c == "\\" or c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return False
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return False
    # Encoded forms ("/%2F%2Fhost", "/%5Chost"), in case a proxy or a later redirect decodes them.
    path = parts.path
    for _ in range(3):
        path = unquote(path)
    return not path.startswith("//") and not any(
        c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in path
    )


def safe_next(target: str | None, default: str = "core.home") -> str:
    """A local path to go back to, never another site (open redirects)."""
    if target and is_local_path(target):
        return target
    return url_for(default)


def redirect_next(default: str = "core.home") -> Response:
    return redirect(safe_next(request.values.get("next"), default))  # type: ignore[return-value]


def apply_service_error(form: Any, error: ServiceError) -> None:
    """Show a refused action on its form: field messages next to the fields."""
    flash(error.message, "error")
    for name, message in error.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message]


def submit(
    form: Any,
    act: Callable[[], Any],
    page: Callable[[int], Any],
    problems: Callable[[], dict[str, str]] | None = None,
) -> Any:
    """A page's form: `page(200)` until it is sent; once sent, what `act()` answers when
    the form's own checks pass and the service agrees, else `page(status)` with the
    messages at the fields (422 for the form's checks, the refusal's status for the
    service's). With `problems`, a form its own checks refuse also shows what the
    service's rules say of it (`problems()`, by field), all at once."""
    if not form.is_submitted():
        return page(200)
    if not form.validate():
        if problems is not None:
            add_field_errors(form, problems())
            refused_form(form)
        return page(422)
    try:
        return act()
    except ServiceError as error:
        apply_service_error(form, error)
        return page(error.status)


class Made(NamedTuple):
    """What a form sent once made: its label and page (a second sending of the form
    points there), and what to tell the user."""

    label: str
    url: str
    message: str


def submit_once(
    form: Any,
    scope: str,
    make: Callable[[], Made],
    page: Callable[[int], Any],
    problems: Callable[[], dict[str, str]],
    index: str = "core.home",
) -> Any:
    """A page's form that makes something (an order, a request, a ticket), as `submit`
    answers it, made once: the form's one-time token is held for `scope` (see
    `hold_form`); a second sending of it goes to what the first made (or to `index`)
    instead of making it again; once made, say so and go to its page."""

    def act() -> Any:
        claim = hold_form(form, scope, current_user)
        if claim.earlier is not None:
            return show_earlier(claim.earlier, index)
        made = make()
        claim.record(made.label, made.url)
        flash(made.message, "success")
        return redirect(made.url)

    return submit(form, act, page, problems)


def refusal_fields(check: Callable[[], object]) -> dict[str, str]:
    """What `check()` refuses, by field ({} when it passes)."""
    try:
        check()
    except ServiceError as error:
        return error.fields
    return {}


def act_then(act: Callable[[], str], then: str, refused: Callable[[int], Any]) -> Any:
    """A button's action: `act()` does it and says what was done (flashed), then go to
    `then`; a service's refusal is flashed and `refused(status)` answers (the page again
    with the refusal's status)."""
    try:
        done = act()
    except ServiceError as error:
        flash(error.message, "error")
        return refused(error.status)
    flash(done, "success")
    return redirect(then)


def status_page(
    template: str,
    statuses: Sequence[str],
    rows: Callable[[str | None], object],
    extra: Sequence[str] = (),
    **context: Any,
) -> str:
    """A list page filtered by its `?status=`: one of `statuses`, or of `extra` (filters
    that are no state: "queue", "overdue"), else 400. The template gets the rows
    `rows(status)` as `rows`, the filter as `status` and the states to offer as `statuses`."""
    status = status_filter((*statuses, *extra))
    return render_template(template, rows=rows(status), status=status, statuses=statuses, **context)


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute link for e-mails, on the configured base URL, in or out of a request."""
    base = config.current().base_url
    with current_app.test_request_context(base_url=base):
        return url_for(endpoint, _external=True, **values)


def hold_form(form: Any, scope: str, user: Visitor | None = None) -> FormClaim:
    """Hold the form's one-time token for this submission (see core.idempotency).

    A refused token (forged, too old) is replaced on the form, so that the page
    shown with the message can be sent again.
    """
    try:
        return claim_form(form.once.data, scope, user)
    except ServiceError:
        form.once.data = new_token()
        raise


def show_earlier(earlier: Earlier, default: str = "core.home") -> Response:
    """A resubmitted form: say so, and go to what its first submission created."""
    flash(earlier.message(), "info")
    return redirect(earlier.url or url_for(default))  # type: ignore[return-value]


def add_field_errors(form: Any, errors: dict[str, str]) -> None:
    """The service's verdict on a form the form's own checks refused: every field's
    problem shown at once (a field already marked keeps its first message)."""
    for name, message in errors.items():
        field = getattr(form, name, None)
        if field is not None and not field.errors:
            field.errors = [*field.errors, message]


def refused_form(form: Any) -> None:
    """Say at the top of a refused form that its fields carry what to fix."""
    from flask_babel import gettext as _

    flash(_("Some fields need your attention: see the messages next to them."), "error")
