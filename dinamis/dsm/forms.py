"""Surface-model forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from dinamis.core.idempotency import OnceToken
from dinamis.orders.forms import THEMES, aoi_field, aoi_file_field


class DsmForm(FlaskForm):
    once = OnceToken()
    scene_id = HiddenField(validators=[DataRequired(), Length(max=200)])
    whole = BooleanField(_l("The whole overlap of the group's images"), default=True)
    aoi = aoi_field(_l("…or an area of interest inside it (GeoJSON)"))
    aoi_file = aoi_file_field()
    resolution_m = SelectField(_l("Output resolution"), choices=[])
    project_title = StringField(_l("Project title"), validators=[DataRequired(), Length(max=200)])
    project_description = TextAreaField(
        _l("Project description"), validators=[DataRequired(), Length(max=20_000)]
    )
    theme = SelectField(_l("Theme"), choices=THEMES)


class CancelForm(FlaskForm):
    reason = TextAreaField(_l("Reason (optional)"), validators=[Length(max=1000)])
