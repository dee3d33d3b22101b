"""Membership forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from dinamis.core.boundary import PG_INTEGER_MAX
from dinamis.core.forms import choices
from dinamis.core.idempotency import OnceToken
from dinamis.core.validation import EmailAddress

SECTORS = choices(
    (
        "research",
        "state",
        "local",
        "public_body",
        "teaching",
        "association",
        "company",
        "foreign_research",
    )
)


class PersonFields:
    """Who asks, on the membership request and on a request for an account."""

    email = EmailField(
        _l("Your professional e-mail"), validators=[DataRequired(), EmailAddress(), Length(max=254)]
    )
    first_name = StringField(_l("First name"), validators=[DataRequired(), Length(max=100)])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=100)])

    def person(self) -> dict[str, str]:
        """Who asks, as the services name them."""
        return {
            "email": self.email.data or "",
            "first_name": self.first_name.data or "",
            "last_name": self.last_name.data or "",
        }


class StartForm(PersonFields, FlaskForm):
    once = OnceToken()


class EntityFields:
    """What the membership request and the entity's details page both ask of an entity."""

    acronym = StringField(_l("Acronym"), validators=[Length(max=50)])
    national_id = StringField(_l("Identifier"), validators=[DataRequired(), Length(max=40)])
    address = TextAreaField(_l("Address"), validators=[DataRequired(), Length(max=1000)])
    sector = SelectField(_l("Sector of activity"), choices=SECTORS)
    parent_bodies = StringField(_l("Parent bodies"), validators=[Length(max=500)])
    website = StringField(_l("Website"), validators=[Length(max=300)])
    legal_rep_name = StringField(
        _l("Legal Representative's name"), validators=[DataRequired(), Length(max=200)]
    )
    legal_rep_function = StringField(
        _l("Their function"), validators=[DataRequired(), Length(max=200)]
    )
    legal_rep_email = EmailField(
        _l("Their professional e-mail"),
        validators=[DataRequired(), EmailAddress(), Length(max=254)],
    )


class DetailsForm(EntityFields, FlaskForm):
    once = OnceToken()
    entity_name = StringField(_l("Legal name"), validators=[DataRequired(), Length(max=300)])
    country = StringField(
        _l("Country (two letters)"), default="FR", validators=[DataRequired(), Length(min=2, max=2)]
    )
    national_id_type = SelectField(
        _l("National identifier"), choices=[("siret", "SIRET"), ("other", _l("Other"))]
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LegalRepForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=200)])
    function = StringField(_l("Your function"), validators=[DataRequired(), Length(max=200)])
    documents = MultiCheckboxField(_l("I accept"), coerce=int, validate_choice=False)


class ApproveForm(FlaskForm):
    profile = SelectField(_l("Profile"), coerce=int, validate_choice=False)


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])


class AccountRequestForm(PersonFields, FlaskForm):
    once = OnceToken()
    entity = IntegerField(
        _l("Entity"),
        validators=[
            DataRequired(_l("Search for your entity and pick it in the list.")),
            # an id PostgreSQL's integer cannot hold names no entity
            NumberRange(1, PG_INTEGER_MAX, message=_l("This entity does not exist.")),
        ],
    )
    job_title = StringField(_l("Position"), validators=[Length(max=200)])
    permanent = BooleanField(
        _l("I am a permanent staff member of this entity"),
        validators=[
            DataRequired(
                _l("Tick this box: accounts are for the entity's permanent staff members.")
            )
        ],
    )


class EntityDetailsForm(EntityFields, FlaskForm):
    name = StringField(_l("Legal name"), validators=[DataRequired(), Length(max=300)])
    country = StringField(
        _l("Country (two letters)"), validators=[DataRequired(), Length(min=2, max=2)]
    )
    email_domains = StringField(
        _l("E-mail domains of the entity (comma-separated)"), validators=[Length(max=1000)]
    )
