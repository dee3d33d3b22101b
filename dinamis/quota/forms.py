"""Quota forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, Field, Form, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, ValidationError

from dinamis.core.columns import values_of
from dinamis.core.labels import LABELS
from dinamis.core.validation import FiniteNumber
from dinamis.quota.models import Family
from dinamis.quota.service import is_period


def _period(form: Form, field: Field) -> None:
    """The service's rule of a period (quota.service.is_period), said at the field."""
    if field.data and not is_period(field.data):
        raise ValidationError(_l("A year (2027) or a quarter (2027-Q1)."))


class AdjustmentForm(FlaskForm):
    family = SelectField(_l("Family"), choices=[(f, LABELS.get(f, f)) for f in values_of(Family)])
    period = StringField(
        _l("Period"),
        validators=[DataRequired(), _period],
    )
    amount = DecimalField(
        _l("km² (negative to take back)"),
        places=2,
        validators=[FiniteNumber(), DataRequired(), NumberRange(min=-1_000_000, max=1_000_000)],
    )
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=1000)])
    key = StringField(validators=[DataRequired(), Length(max=100)])
