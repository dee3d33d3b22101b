# Type information for the parts of Flask-Login that Dinamis uses (the
# package ships none). Checked against Flask-Login 0.6.
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask
from werkzeug.wrappers import Response

from dinamis.accounts.models import User

_T = TypeVar("_T")

# The acting visitor of the request (`accounts.models.Visitor`): Dinamis's
# `user_loader` gives a `User`, and `LoginManager.anonymous_user` is the
# `AnonymousUserMixin` below. `current_user` is a proxy to it that reads as
# it (`isinstance` and attributes pass through), so it is typed as the one or
# the other, each with the proxy's `_get_current_object()`, which gives the
# object itself (for `login_user`, or identity). It is None outside a request.
# Code that needs the User narrows it (`accounts.permissions.is_signed_in`), or
# in a view behind `requires(...)` takes it from `core.permissions.current_account()`.
class _SignedInProxy(User):
    def _get_current_object(self) -> User: ...

class _AnonymousProxy(AnonymousUserMixin):
    def _get_current_object(self) -> AnonymousUserMixin: ...

current_user: _SignedInProxy | _AnonymousProxy

class AnonymousUserMixin:
    @property
    def is_authenticated(self) -> bool: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def is_anonymous(self) -> bool: ...
    def get_id(self) -> str | None: ...

class UserMixin:
    @property
    def is_authenticated(self) -> bool: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def is_anonymous(self) -> bool: ...
    def get_id(self) -> str: ...

class LoginManager:
    login_view: str | None
    login_message: Any
    login_message_category: str
    session_protection: str | None
    anonymous_user: type[AnonymousUserMixin]
    def __init__(self, app: Flask | None = ..., add_context_processor: bool = ...) -> None: ...
    def init_app(self, app: Flask, add_context_processor: bool = ...) -> None: ...
    def user_loader(self, callback: Callable[[str], _T]) -> Callable[[str], _T]: ...
    def request_loader(self, callback: Callable[[Any], _T]) -> Callable[[Any], _T]: ...
    def unauthorized_handler(self, callback: Callable[[], _T]) -> Callable[[], _T]: ...
    # With `login_view` set and no `unauthorized_handler` (Dinamis's case), the
    # redirect to the login page.
    def unauthorized(self) -> Response: ...

def login_user(
    user: User,
    remember: bool = ...,
    duration: timedelta | None = ...,
    force: bool = ...,
    fresh: bool = ...,
) -> bool: ...
def logout_user() -> bool: ...
def login_required(func: Callable[..., _T]) -> Callable[..., _T]: ...
