"""PDF helpers: fixed-width listings keep every character, the renderer fetches nothing."""

from __future__ import annotations

import io

from pypdf import PdfReader

from dinamis.core.pdf import html_to_pdf, text_table


def test_text_table_aligns_figures_and_wraps_long_names_without_cutting():
    long = "Institut national de recherche pour l'agriculture et l'environnement"
    lines = text_table(
        [("Agence B", "500.00", "0.00", None), (long, "1.00", "22.50", "3")], (20, 9, 9, 4)
    )
    assert lines[0] == "Agence B               500.00     0.00"
    first, *rest = lines[1].split("\n")
    assert first.endswith("     1.00    22.50   3") and len(first) == 20 + 9 + 9 + 4
    assert all(len(line) <= 20 for line in rest)
    assert " ".join(lines[1].replace("1.00    22.50   3", "").split()) == long
    # A figure wider than its column pushes the line rather than lose digits.
    assert text_table([("x", "123456789.00")], (4, 6)) == ["x    123456789.00"]


def test_rendering_fetches_nothing_outside_the_document(tmp_path, caplog):
    stylesheet = tmp_path / "style.css"
    stylesheet.write_text("body { color: red }")
    pdf = html_to_pdf(
        f'<link rel="stylesheet" href="file://{stylesheet}"><img src="http://127.0.0.1:9/x.png">'
        "Hello"
    )
    assert "Hello" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    refused = [r.getMessage() for r in caplog.records if "disallowed protocol" in r.getMessage()]
    assert len(refused) == 2, [r.getMessage() for r in caplog.records]
