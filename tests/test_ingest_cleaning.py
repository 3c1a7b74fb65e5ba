"""Text clean-up shared by the loaders: invisible characters, hyphenation, whitespace, page
debris and repeated furniture lines."""

from __future__ import annotations

import pytest

from ingest.cleaning import (
    ends_sentence,
    is_page_debris,
    normalise_spaces,
    repair_hyphenation,
    repeated_furniture,
    repeated_short_lines,
    strip_invisible,
)
from ingest.loaders.text import parse_text


@pytest.mark.parametrize(
    "char",
    [
        "\u200b",  # zero-width space
        "\u200c",  # zero-width non-joiner
        "\u200d",  # zero-width joiner
        "\u2060",  # word joiner
        "\ufeff",  # byte order mark / zero-width no-break space
        "\u00ad",  # soft hyphen
        "\u200e",  # left-to-right mark
        "\u200f",  # right-to-left mark
        "\u202a",  # left-to-right embedding
        "\u202c",  # pop directional formatting
        "\u2066",  # left-to-right isolate
        "\u2069",  # pop directional isolate
    ],
)
def test_invisible_characters_are_stripped(char: str) -> None:
    assert strip_invisible(f"re{char}admis{char}sion") == "readmission"


def test_strip_invisible_keeps_visible_text_and_composes_accents() -> None:
    decomposed = "Re\u0301union"  # e + combining acute accent
    assert strip_invisible(decomposed) == "R\u00e9union"
    assert strip_invisible("Schengen – 26% “area”") == "Schengen – 26% “area”"


def test_hyphenation_at_line_end_is_repaired() -> None:
    text = "national policies on irregular migra-\ntion and on integra-\ntion measures"
    assert repair_hyphenation(text) == (
        "national policies on irregular migration and on integration measures"
    )


def test_hyphen_before_a_capital_or_inside_a_line_is_kept() -> None:
    # A line-end hyphen before a capital is a real hyphen ("EU-\nTurkey"), and so is one
    # inside a line ("third-country").
    assert repair_hyphenation("the EU-\nTurkey statement") == "the EU-\nTurkey statement"
    assert repair_hyphenation("third-country nationals") == "third-country nationals"


def test_whitespace_is_normalised() -> None:
    assert (
        normalise_spaces("  28\u00a0200\u202f000\tEUR  in \u2009 2026 ") == "28 200 000 EUR in 2026"
    )


@pytest.mark.parametrize(
    "line", ["---", "______", "***", "====", "12", "- 3 -", "Page 4", "page 4 of 12", "5/12", " 7 "]
)
def test_page_break_debris_is_recognised(line: str) -> None:
    assert is_page_debris(line)


@pytest.mark.parametrize(
    "line",
    [
        "Article 12",
        "12 Member States took part.",
        "- a list item",
        "2.1. Direct awards",
        "TOTAL: 28 200 000",
    ],
)
def test_real_text_is_not_page_debris(line: str) -> None:
    assert not is_page_debris(line)


def test_ends_sentence() -> None:
    assert ends_sentence("The network was set up in 2008.")
    assert ends_sentence("It reports to the Commission (see Annex).")
    assert ends_sentence("Arrivals fell by 26%.⟦fn:1⟧")
    assert not ends_sentence("cooperation on readmis-")
    assert not ends_sentence("which will present a common European")


def test_repeated_short_lines_are_found_but_not_headings_or_list_items() -> None:
    lines = [
        "Brussels, 28.1.2026",
        "C(2026) 36 final",
        "# 1. Introduction",
        "- item",
        "Brussels, 28.1.2026",
        "C(2026) 36 final",
        "# 1. Introduction",
        "- item",
        "A sentence that is long enough to be body text and appears once.",
    ]
    found = repeated_short_lines(lines, min_count=2, max_chars=40)
    assert found == {"Brussels, 28.1.2026", "C(2026) 36 final"}


def test_parse_text_drops_a_repeated_header_line_after_its_first_occurrence() -> None:
    text = "\n".join(
        [
            "C(2026) 36 final",
            "",
            "# Annex",
            "",
            "The first paragraph explains the purpose of the annex in some detail.",
            "",
            "---",
            "",
            "C(2026) 36 final",
            "",
            "3",
            "",
            "The second paragraph continues after the page break with more detail.",
            "",
            "C(2026) 36 final",
            "",
            "The third paragraph closes the annex with its final remarks on it.",
        ]
    )
    blocks = parse_text(text, markdown=True)
    texts = [b.text for b in blocks]
    assert texts.count("C(2026) 36 final") == 1
    assert texts[0] == "C(2026) 36 final"
    assert "---" not in texts and "3" not in texts
    assert [b.kind for b in blocks[1:]] == ["heading", "paragraph", "paragraph", "paragraph"]


def test_running_headers_and_footers_are_found_across_pages() -> None:
    pages = [
        [
            f"EMN Inform {n}/5",
            "Heading of page",
            "Body text that differs on every page " * n,
            "Footnote text",
            f"Page {n} of 5",
        ]
        for n in range(1, 6)
    ]
    furniture = repeated_furniture(pages)
    assert "EMN Inform #/#" in furniture
    assert "Page # of #" in furniture
    assert not any(line.startswith("Body text") for line in furniture)


def test_two_pages_are_too_few_to_call_a_line_furniture() -> None:
    pages = [["Header", "Body one"], ["Header", "Body two"]]
    assert repeated_furniture(pages) == set()
