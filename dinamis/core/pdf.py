"""PDF documents rendered with WeasyPrint from HTML templates."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template
from weasyprint import HTML


def render_pdf(template: str, **context: Any) -> bytes:
    """Render `templates/<template>` to PDF bytes (fonts and images from the app only)."""
    html = render_template(template, **context)
    # No base_url: the documents reference nothing outside themselves.
    return HTML(string=html).write_pdf()


def pdf_response(content: bytes, filename: str, inline: bool = True) -> Response:
    disposition = "inline" if inline else "attachment"
    return Response(
        content,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )
