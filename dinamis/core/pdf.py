"""PDF documents rendered with WeasyPrint from HTML templates."""

from __future__ import annotations

import multiprocessing
import textwrap
import threading
from collections.abc import Iterable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from flask import Response, render_template
from flask_babel import gettext as _
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from dinamis.core.exports import content_disposition
from dinamis.core.formats import localise

_local = threading.local()


def _renderer() -> tuple[FontConfiguration, URLFetcher]:
    """This thread's font configuration and URL fetcher, made once.

    A FontConfiguration loads Fontconfig's configuration and the system fonts
    and starts an empty Pango font cache: reusing it saves that work (about a
    tenth of a one-page document) on every PDF. The documents have no
    @font-face, so it only ever holds the system fonts, the same for every
    document and user. Pango font maps are not shared between threads, hence
    one per thread. The fetcher only accepts data: URLs: the documents
    reference nothing outside themselves, and nothing in them may make
    WeasyPrint reach the network, the file system or the app.
    """
    renderer = getattr(_local, "renderer", None)
    if renderer is None:
        renderer = _local.renderer = (
            FontConfiguration(),
            URLFetcher(allowed_protocols={"data"}, allow_redirects=False),
        )
    return renderer


class _HTML(HTML):  # type: ignore[misc]  # WeasyPrint ships no types
    """An HTML document styled by the given user-agent stylesheet instead of WeasyPrint's."""

    def __init__(self, *args: Any, user_agent_css: CSS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._user_agent_css = user_agent_css

    def _ua_stylesheets(self, forms: bool = False) -> list[CSS]:
        return [self._user_agent_css]


def html_to_pdf(html: str, user_agent_css: CSS | None = None) -> bytes:
    """PDF bytes of an HTML document.

    `user_agent_css` replaces WeasyPrint's HTML user-agent stylesheet (some
    250 rules, each matched against every element) with a small one that
    styles only the elements a document uses, the same way: the one-page
    quote then costs a few milliseconds less, and looks the same.
    """
    font_config, url_fetcher = _renderer()
    # No base_url: relative URLs resolve to nothing.
    if user_agent_css is None:
        document = HTML(string=html, url_fetcher=url_fetcher)
    else:
        document = _HTML(string=html, url_fetcher=url_fetcher, user_agent_css=user_agent_css)
    pdf: bytes = document.write_pdf(font_config=font_config)
    return pdf


class LayoutTooLong(Exception):
    """The layout of a document was stopped at its time limit."""


def _lay_out(sender: Connection, html: str) -> None:
    """The child process of `render_pdf(..., within=)`: the PDF, or what went wrong."""
    try:
        sender.send((True, html_to_pdf(html)))
    except Exception as exc:
        sender.send((False, f"{type(exc).__name__}: {exc}"))
    finally:
        sender.close()


def _laid_out_within(html: str, seconds: float) -> bytes:
    """PDF bytes of an HTML document laid out by a child process, killed after `seconds`:
    WeasyPrint cannot be interrupted, and a layout that never ends would hold its worker."""
    spawn = multiprocessing.get_context("spawn")  # never a fork of a threaded worker
    receiver, sender = spawn.Pipe(duplex=False)
    child = spawn.Process(target=_lay_out, args=(sender, html), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            raise LayoutTooLong(
                _(
                    "Laying out the PDF took longer than %(seconds)d s: it was stopped.",
                    seconds=seconds,
                )
            )
        try:
            done, result = receiver.recv()
        except EOFError:  # the child died without a word (killed, out of memory)
            child.join()
            raise RuntimeError(
                f"the layout process ended without a document (exit code {child.exitcode})"
            ) from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
    if not done:
        raise RuntimeError(f"the layout failed: {result}")
    pdf: bytes = result
    return pdf


def render_pdf(
    template: str,
    user_agent_css: CSS | None = None,
    *,
    within: float | None = None,
    **context: Any,
) -> bytes:
    """Render `templates/<template>` to PDF bytes (fonts and images from the app only).

    With `within` (seconds), the layout runs in a child process stopped at that time
    (LayoutTooLong): for the long documents made by workers, not the ones of a request.
    """
    html = render_template(template, **context)
    if within is None:
        return html_to_pdf(html, user_agent_css)
    assert user_agent_css is None  # a stylesheet object does not cross to the child
    return _laid_out_within(html, within)


def text_table(
    rows: Iterable[Sequence[object]], widths: Sequence[int], left: int = 1, hang: int = 0
) -> list[str]:
    """Rows as fixed-width text, for a monospaced block with `white-space: pre`.

    The first column is left-aligned and wrapped at its width (a long name
    continues on the next lines, indented by `hang` spaces, nothing is cut),
    the next `left - 1` columns are left-aligned and the others right-aligned,
    each after a space; a value wider than its column pushes the line rather
    than lose characters. One string per row, its lines joined by newlines.

    Long listings are laid out this way because WeasyPrint lays out each table
    cell as a box of its own (about a millisecond each): a 1,000-row table
    took seconds, its rows as lines of text a fifth of that.
    """
    first, *others = widths
    result = []
    for row in rows:
        name, *values = ("" if v is None else str(localise(v)) for v in row)
        head, *rest = textwrap.wrap(
            name, first, break_on_hyphens=False, subsequent_indent=" " * hang
        ) or [""]
        figures = "".join(
            " " + (v.ljust(w - 1) if n < left - 1 else v.rjust(w - 1))
            for n, (v, w) in enumerate(zip(values, others, strict=True))
        )
        result.append("\n".join([(head.ljust(first) + figures).rstrip(), *rest]))
    return result


def pdf_response(content: bytes, filename: str, inline: bool = True) -> Response:
    disposition = "inline" if inline else "attachment"
    return Response(
        content,
        mimetype="application/pdf",
        headers={"Content-Disposition": content_disposition(filename, disposition)},
    )
