"""The saved search form (the catalogue's criteria, a name, how often, where)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from dinamis.alerts.models import Channel, Frequency
from dinamis.catalogue.queryables import SPECTRAL_MODES
from dinamis.core.idempotency import OnceToken

WHEN_CHOICES = [
    ("from_now", _l("Scenes acquired from now on")),
    ("range", _l("Scenes acquired between two dates")),
]
FREQUENCY_CHOICES = [
    (Frequency.AT_ONCE, _l("At once, as soon as they arrive")),
    (Frequency.DAILY, _l("A daily digest")),
    (Frequency.WEEKLY, _l("A weekly digest (on Mondays)")),
]
CHANNEL_CHOICES = [(Channel.EMAIL, _l("By e-mail")), (Channel.WEBHOOK, _l("By webhook"))]


class SavedSearchForm(FlaskForm):
    once = OnceToken()
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    aoi = TextAreaField(
        _l("Area (GeoJSON)"),
        description=_l(
            "Draw it on the map, upload a file, or type a point (latitude, longitude)"
            " or a box (west, south, east, north)."
        ),
        validators=[DataRequired(), Length(max=2_000_000)],
    )
    when = RadioField(_l("Dates"), choices=WHEN_CHOICES, default="from_now")
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
    collections = SelectMultipleField(_l("Collections (none chosen: all)"), choices=[])
    max_cloud = DecimalField(
        _l("Max cloud cover (%)"), places=None, validators=[Optional(), NumberRange(0, 100)]
    )
    max_incidence = DecimalField(
        _l("Max incidence (°)"), places=None, validators=[Optional(), NumberRange(0, 90)]
    )
    spectral_modes = SelectMultipleField(
        _l("Spectral modes (none chosen: all)"), choices=[(m, m) for m in SPECTRAL_MODES]
    )
    stereo_only = BooleanField(_l("Stereo only"))
    frequency = RadioField(_l("Tell me"), choices=FREQUENCY_CHOICES, default=Frequency.DAILY)
    channel = RadioField(_l("How"), choices=CHANNEL_CHOICES, default=Channel.EMAIL)
    webhook_id = SelectField(
        _l("Webhook (for the webhook channel)"),
        coerce=int,
        choices=[],
        validate_choice=False,
        validators=[Optional()],
    )
