"""Quota forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Regexp

from dinamis.core.columns import values_of
from dinamis.core.labels import LABELS
from dinamis.core.validation import FiniteNumber
from dinamis.quota.models import Family


class AdjustmentForm(FlaskForm):
    family = SelectField(_l("Family"), choices=[(f, LABELS.get(f, f)) for f in values_of(Family)])
    period = StringField(
        _l("Period"),
        validators=[
            DataRequired(),
            Regexp(r"^\d{4}(-Q[1-4])?$", message=_l("A year (2027) or a quarter (2027-Q1).")),
        ],
    )
    amount = DecimalField(
        _l("km² (negative to take back)"),
        places=2,
        validators=[FiniteNumber(), DataRequired(), NumberRange(min=-1_000_000, max=1_000_000)],
    )
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=1000)])
    key = StringField(validators=[DataRequired(), Length(max=100)])
