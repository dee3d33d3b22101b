"""`core.permissions.current_account()`: the User of a view behind `requires(...)`."""

from __future__ import annotations

import pytest
from flask_login import login_user
from werkzeug.exceptions import Unauthorized

from dinamis.core.permissions import current_account
from tests.factories import make_user


def test_it_is_the_signed_in_user_itself_not_the_proxy(app):
    with app.test_request_context("/"):
        user = make_user("acting@labo.test")
        login_user(user)
        # `login_user(current_account())` (after a password change) needs the object:
        # Flask-Login's proxy given back to it would point at itself.
        assert current_account() is user


def test_an_anonymous_visitor_has_none(app):
    with app.test_request_context("/"), pytest.raises(Unauthorized):
        current_account()
