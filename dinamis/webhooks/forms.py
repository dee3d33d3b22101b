"""The webhook form; the URL's rules are the service's (checked there, shown at the field)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import Length


class WebhookForm(FlaskForm):
    url = StringField(_l("URL"))
    description = StringField(_l("Description (optional)"), validators=[Length(max=200)])
    order_events = BooleanField(_l("Send my orders' state changes to this webhook"), default=True)
