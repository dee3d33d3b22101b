"""Shared input validation (e-mail addresses, numbers written as text)."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import has_app_context
from flask_babel import lazy_gettext as _l
from wtforms.validators import StopValidation, ValidationError

from dinamis import config


def digits(text: str) -> bool:
    """Whether `text` is written with the digits 0-9 only (and has one): `str.isdigit()`
    alone also says yes to "²", which `int()` refuses, and to other scripts' digits."""
    return text.isascii() and text.isdigit()


def _allow_test_domains() -> bool:
    # The demo and test accounts use the reserved .test domain; production
    # accepts only real, globally deliverable names.
    return not (has_app_context() and config.current().is_production)


def normalise_email_address(value: str) -> str:
    """The normalised address, or ValueError with a readable reason."""
    try:
        result = validate_email(
            value.strip(),
            check_deliverability=False,
            test_environment=_allow_test_domains(),
        )
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return result.normalized.lower()


class EmailAddress:
    """WTForms validator: a syntactically valid e-mail address."""

    def __call__(self, form: Any, field: Any) -> None:
        if not field.data:
            return
        try:
            normalise_email_address(field.data)
        except ValueError:
            raise ValidationError(str(_l("This is not a valid e-mail address."))) from None


class FiniteNumber:
    """A form's number is finite: NaN, sNaN and Infinity are refused before other checks.

    Put it first: a signalling NaN makes the checks after it (DataRequired,
    NumberRange) raise instead of answering.
    """

    def __call__(self, form: Any, field: Any) -> None:
        data = field.data
        if data is not None and not (data.is_finite() if hasattr(data, "is_finite") else True):
            field.errors[:] = []
            raise StopValidation(str(_l("Enter a finite number.")))
