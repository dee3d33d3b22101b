"""Support forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from dinamis.core.forms import choices
from dinamis.core.idempotency import OnceToken
from dinamis.core.validation import EmailAddress
from dinamis.support.models import CATEGORIES

CATEGORY_CHOICES = choices(CATEGORIES)


class TicketForm(FlaskForm):
    once = OnceToken()
    name = StringField(_l("Your name"), validators=[Optional(), Length(max=200)])
    email = EmailField(_l("Your e-mail"), validators=[Optional(), EmailAddress(), Length(max=254)])
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200)])
    category = SelectField(_l("Category"), choices=CATEGORY_CHOICES)
    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=10_000)])
    attachment = FileField(_l("Attachment (optional, 5 MB at most)"))


class ReplyForm(FlaskForm):
    once = OnceToken()
    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=10_000)])
    attachment = FileField(_l("Attachment (optional, 5 MB at most)"))


class AssignForm(FlaskForm):
    assignee = SelectField(_l("Assigned to"), coerce=str, validate_choice=False)
