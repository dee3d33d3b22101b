"""Account forms; every one carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from dinamis.core.validation import EmailAddress

LANGUAGE_CHOICES = [("fr", "Français"), ("en", "English")]


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), EmailAddress(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), EmailAddress(), Length(max=254)])


class NewPasswordMixin:
    password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(min=12, max=200)]
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


class ResetPasswordForm(NewPasswordMixin, FlaskForm):
    pass


class ChangePasswordForm(NewPasswordMixin, FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(max=200)]
    )


class ProfileForm(FlaskForm):
    first_name = StringField(_l("First name"), validators=[DataRequired(), Length(max=100)])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=100)])
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)])
    # The range is the service's (configured); here only "a whole number, or empty".
    days = IntegerField(_l("Valid for (days)"), validators=[Optional()])


class PostForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class LanguageForm(FlaskForm):
    language = HiddenField(validators=[DataRequired()])
    next = HiddenField()
