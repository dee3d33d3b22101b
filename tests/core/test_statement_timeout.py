"""A statement cancelled by statement_timeout (SQLSTATE 57014) is a 503, not a 500."""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import OperationalError


def _cancelled() -> OperationalError:
    return OperationalError("SELECT 1", {}, psycopg.errors.QueryCanceled("canceling statement"))


def test_a_cancelled_statement_answers_503_with_retry_after_in_json(app):
    with app.test_request_context("/api/v1/me", headers={"Accept-Language": "en"}):
        response = app.make_response(app.handle_user_exception(_cancelled()))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert body["error"]["code"] == "unavailable"
    assert "took too long" in str(body)


def test_a_cancelled_statement_is_a_styled_page_in_french_on_the_portal(app):
    with app.test_request_context("/catalogue/", headers={"Accept-Language": "fr"}):
        response = app.make_response(app.handle_user_exception(_cancelled()))
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "<html" in page.lower()
    assert "trop de temps" in page
