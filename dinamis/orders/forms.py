"""Order forms."""

from __future__ import annotations

from typing import Any, Protocol

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileSize
from shapely.geometry import MultiPolygon
from wtforms import (
    DateField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from dinamis.core.columns import values_of
from dinamis.core.errors import ServiceError
from dinamis.core.forms import choices
from dinamis.core.geo import parse_aoi
from dinamis.core.geo_files import read_aoi_file
from dinamis.core.idempotency import OnceToken
from dinamis.core.validation import FiniteNumber
from dinamis.orders.models import Mode, Sensor, SpectralMode, Theme

THEMES = choices(values_of(Theme))
SENSORS = [
    (Sensor.PLEIADES, "Pléiades (50 cm)"),
    (Sensor.NEO, "Pléiades Neo (30 cm)"),
    (Sensor.SPOT, "SPOT 6-7 (1.5 m)"),
]
MODES = [
    (Mode.MONO, _l("Mono (area x1)")),
    (Mode.STEREO, _l("Stereo (area x2)")),
    (Mode.TRISTEREO, _l("Tri-stereo (area x3)")),
]
SPECTRAL = [
    ("pms", _l("Pansharpened (PMS)")),
    ("pan", _l("Panchromatic (PAN)")),
    ("ms", _l("Multispectral (MS)")),
    ("bundle", _l("Bundle (PAN + MS)")),
]
assert {c for c, _ in SPECTRAL} == set(values_of(SpectralMode))

MAX_AOI_FILE = 2 * 1024 * 1024
DRAW_PASTE_OR_UPLOAD = _l("Draw it on the map, paste GeoJSON, or upload a file.")


def aoi_field(label: str, description: str = DRAW_PASTE_OR_UPLOAD) -> TextAreaField:
    """The AOI as GeoJSON text (drawn on the map, pasted); optional, as a file may give it."""
    return TextAreaField(
        label, validators=[Optional(), Length(max=1_000_000)], description=description
    )


def aoi_file_field() -> FileField:
    """The AOI as an uploaded file, read by core.geo_files.read_aoi_file."""
    return FileField(
        _l("…or upload a file (GeoJSON, KML, zipped shapefile)"),
        validators=[FileSize(MAX_AOI_FILE, message=_l("The file is larger than 2 MB."))],
    )


class GivesArea(Protocol):
    """A form that gives an area: its GeoJSON text, and an uploaded file when it has one
    (`aoi_file`)."""

    @property
    def aoi(self) -> TextAreaField: ...


def area_of(form: GivesArea) -> MultiPolygon | None:
    """The area a form gives: its uploaded file (`aoi_file`, when it has one) or else its
    GeoJSON text (`aoi`), read through core.geo; None when it gives neither. A refusal
    carries its message at the field that gave the area."""
    upload = getattr(form, "aoi_file", None)
    if upload is not None and upload.data and getattr(upload.data, "filename", ""):
        try:
            return read_aoi_file(upload.data.filename, upload.data.read())
        except ServiceError as exc:
            raise ServiceError(exc.message, fields={"aoi_file": exc.message}) from None
    text = form.aoi.data or ""
    if not text.strip():
        return None
    try:
        return parse_aoi(text)
    except ServiceError as error:
        error.fields.setdefault("aoi", error.message)
        raise


class _WithinRange(NumberRange):
    """NumberRange for a number that was read: one that could not be (1e309, 2.5)
    already carries the field's message, which need not be said twice."""

    def __call__(self, form: Any, field: Any) -> None:
        if field.data is not None:
            super().__call__(form, field)


def _whole_number(label: Any, default: int, top: int, message: Any) -> IntegerField:
    """A whole number from 0 to `top`, required; `message` says so when it is not one."""
    return IntegerField(
        label,
        default=default,
        validators=[InputRequired(), _WithinRange(0, top, message=message)],
        # WTForms 3.3 takes it; the typeshed stubs describe 3.2.
        invalid_value_message=message,  # type: ignore[call-arg]
    )


class ProjectFields:
    """The project of an order, on the tasking and the archive forms (each asks why in
    its own words: `justification`). The service's rule (`service.project_errors`, the
    API's too) refuses at these fields what the form's own checks let through."""

    project_title = StringField(_l("Project title"), validators=[DataRequired(), Length(max=200)])
    project_description = TextAreaField(
        _l("Project description"), validators=[DataRequired(), Length(max=5000)]
    )
    theme = SelectField(_l("Theme"), choices=THEMES)
    funding = StringField(_l("Funding (programme, grant)"), validators=[Length(max=300)])
    justification: TextAreaField

    def project(self) -> dict[str, Any]:
        """The project's fields as the service's requests name them."""
        return {
            "project_title": self.project_title.data or "",
            "project_description": self.project_description.data or "",
            "justification": self.justification.data or "",
            "theme": self.theme.data or "",
            "funding": self.funding.data,
        }


class TaskingForm(ProjectFields, FlaskForm):
    once = OnceToken()
    aoi = aoi_field(_l("Area of interest (GeoJSON)"))
    aoi_file = aoi_file_field()
    sensor = SelectField(_l("Sensor"), choices=SENSORS)
    # InputRequired: a date that was typed but is none (2027-02-30) keeps DateField's own
    # "not a valid date" (DataRequired would replace it with "required").
    window_start = DateField(_l("Window starts"), validators=[InputRequired()])
    window_end = DateField(_l("Window ends"), validators=[InputRequired()])
    max_cloud_cover = _whole_number(
        _l("Maximum cloud cover (%)"), 20, 100, _l("Enter a whole number between 0 and 100.")
    )
    max_incidence = _whole_number(
        _l("Maximum incidence angle (°)"), 30, 60, _l("Enter a whole number between 0 and 60.")
    )
    mode = SelectField(_l("Acquisition mode"), choices=MODES)
    spectral_mode = SelectField(_l("Spectral mode"), choices=SPECTRAL)
    justification = TextAreaField(
        _l("Why new imagery is needed"), validators=[DataRequired(), Length(max=5000)]
    )


class ArchiveForm(ProjectFields, FlaskForm):
    once = OnceToken()
    scenes = HiddenField(validators=[DataRequired(), Length(max=20_000)])
    aoi = aoi_field(
        _l("Cut to an area (GeoJSON, optional)"),
        _l("Leave empty to order the whole scenes; each scene is cut to this area otherwise."),
    )
    justification = TextAreaField(
        _l("Why these images are needed"), validators=[DataRequired(), Length(max=5000)]
    )


class CommentForm(FlaskForm):
    comment = TextAreaField(_l("Comment"), validators=[Length(max=5000)])


class DeliveryForm(FlaskForm):
    once = OnceToken()
    scene_id = StringField(
        _l("Delivered scene (catalogue identifier)"),
        validators=[DataRequired(), Length(max=200)],
    )
    km2 = DecimalField(
        _l("Corrected area (km², optional)"),
        places=2,
        validators=[Optional(), FiniteNumber(), NumberRange(min=0.01, max=1_000_000)],
        description=_l("Leave empty to charge the measured area."),
    )
    reason = TextAreaField(
        _l("Reason for the correction"),
        validators=[Length(max=2000)],
        description=_l("Required when the area is corrected."),
    )
