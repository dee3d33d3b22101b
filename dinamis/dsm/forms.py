"""Surface-model forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileSize
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from dinamis.core.idempotency import OnceToken
from dinamis.orders.forms import MAX_AOI_FILE, THEMES


class DsmForm(FlaskForm):
    once = OnceToken()
    scene_id = HiddenField(validators=[DataRequired(), Length(max=200)])
    whole = BooleanField(_l("The whole overlap of the group's images"), default=True)
    aoi = TextAreaField(
        _l("…or an area of interest inside it (GeoJSON)"),
        validators=[Optional(), Length(max=1_000_000)],
        description=_l("Draw it on the map, paste GeoJSON, or upload a file."),
    )
    aoi_file = FileField(
        _l("…or upload a file (GeoJSON, KML, zipped shapefile)"),
        validators=[FileSize(MAX_AOI_FILE, message=_l("The file is larger than 2 MB."))],
    )
    resolution_m = SelectField(_l("Output resolution"), choices=[])
    project_title = StringField(_l("Project title"), validators=[DataRequired(), Length(max=200)])
    project_description = TextAreaField(
        _l("Project description"), validators=[DataRequired(), Length(max=20_000)]
    )
    theme = SelectField(_l("Theme"), choices=THEMES)


class CancelForm(FlaskForm):
    reason = TextAreaField(_l("Reason (optional)"), validators=[Length(max=1000)])
