"""Usage report forms: what the pages send, read into the service's terms.

The forms only read what was typed (and check the CSRF token); the rules on
a report's content (themes, scenes, publications, lengths, what submitting
requires) are the service's (`service.save`), which says what is wrong,
field by field.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectMultipleField, StringField, TextAreaField

from dinamis.core.idempotency import OnceToken
from dinamis.reports.service import MAX_PUBLICATIONS, ReportContent


class PublicationForm(Form):
    """One publication's row: `pub-<i>-title`, `pub-<i>-year`, `pub-<i>-doi`."""

    title = StringField()
    year = StringField()
    doi = StringField()


class ReportForm(FlaskForm):
    """A report's content, saved as a draft (`action=save`) or submitted (`action=submit`)."""

    once = OnceToken()
    project = StringField()
    # Any value is read; the service says which themes and scenes are not allowed.
    themes = SelectMultipleField(validate_choice=False)
    scene_ids = SelectMultipleField(validate_choice=False)
    # One row more than allowed is read, so that the service can say there are too many.
    pub = FieldList(FormField(PublicationForm), max_entries=MAX_PUBLICATIONS + 1)
    products = TextAreaField()
    benefit = TextAreaField()
    comments = TextAreaField()
    action = StringField()

    @property
    def submitting(self) -> bool:
        return self.action.data == "submit"

    def content(self) -> ReportContent:
        """What was typed, as the service takes it (rows left empty are not publications)."""
        rows = [
            (p.title.data or "", p.year.data or "", p.doi.data or "")
            for p in (entry.form for entry in self.pub.entries)
        ]
        return ReportContent(
            project=self.project.data or "",
            themes=list(self.themes.data or []),
            scene_ids=list(self.scene_ids.data or []),
            products=self.products.data or "",
            benefit=self.benefit.data or "",
            comments=self.comments.data or "",
            publications=[row for row in rows if any(part.strip() for part in row)],
        )


class ReviewForm(FlaskForm):
    """Staff's decision on a submitted report: accept, or send it back with a comment."""

    decision = StringField()
    comment = TextAreaField()

    @property
    def accept(self) -> bool:
        return self.decision.data == "accept"


class StartForm(FlaskForm):
    """Start the report of a delivered order (`order_id`) or of a year (`year`)."""

    order_id = StringField()
    year = StringField()
