"""rag/source_link.py: a passage's public address from its document's catalog URL, pointed at
the article (EUR-Lex) or page (PDF), and never made up when the catalog records none."""

from __future__ import annotations

import pytest

from rag.source_link import article_of, public_source_url

ELI = "https://eur-lex.europa.eu/eli/reg/2024/1351/oj"


@pytest.mark.parametrize(
    ("path", "article"),
    [
        ("REGULATION (EU) 2024/1351 > Article 5 > External components", "5"),
        ("Decision > Article 12a Union contribution", "12a"),
        ("Annex > Art. 3", "3"),
        ("Article 2 > Article 7 > Definitions", "7"),  # the innermost one
        ("4. A firm, fair and adaptable system > Modernising asylum procedures", ""),
        ("Recital (5) refers to Article 80 TFEU", ""),  # named inside a heading, not as one
    ],
)
def test_the_article_a_section_path_names(path: str, article: str) -> None:
    assert article_of(path) == article


def test_eur_lex_urls_point_at_the_article_anchor() -> None:
    path = "REGULATION (EU) 2024/1351 > Article 5 > External components"
    assert public_source_url(ELI, path, None) == f"{ELI}#art_5"
    assert public_source_url(ELI, "Recitals", None) == ELI
    celex = "https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:32008D0381"
    assert public_source_url(celex, "Article 4 > Steering Board") == f"{celex}#art_4"


def test_pdfs_point_at_the_page_and_other_pages_stay_as_catalogued() -> None:
    pdf = "https://example.europa.eu/docs/study.pdf"
    assert public_source_url(pdf, "1. Introduction", 7) == f"{pdf}#page=7"
    assert public_source_url(pdf, "1. Introduction", None) == pdf
    register = "https://data.consilium.europa.eu/doc/document/ST-1-2026-INIT/en/pdf"
    assert public_source_url(register, "", 2) == f"{register}#page=2"
    page = "https://en.wikipedia.org/wiki/European_Migration_Network"
    assert public_source_url(page, "Article 3 > x", 4) == page  # not EUR-Lex, not a PDF
    anchored = f"{ELI}#d1e32-1-1"
    assert public_source_url(anchored, "Article 5", None) == anchored  # the catalog's own


@pytest.mark.parametrize("url", ["", "   ", "corpus/file.md", "file:///etc/passwd", "https://"])
def test_no_address_is_made_up(url: str) -> None:
    assert public_source_url(url, "Article 5", 3) == ""
