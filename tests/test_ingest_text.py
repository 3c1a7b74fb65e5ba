"""Markdown and plain text: footnote forms, paragraphs cut by page breaks, tables."""

from __future__ import annotations

from pathlib import Path

from ingest_helpers import index_state, ingest, make_settings

from ingest.chunking import merge_broken_paragraphs
from ingest.loaders.text import parse_text

CONVERTED = """# 2. STEPPING UP MIGRATION DIPLOMACY

The Union supports the Pact for the Mediterranean<sup>(12)</sup> and works with the Council of \
Europe on migrant smuggling<sup>(14)</sup>. The Commission will contribute to the reflection \
of the Council of Europe in the

---

(12) Joint Communication on the Pact for the Mediterranean.

(14) Council of Europe ministers call for a political declaration.

context of the initiative launched in December 2025, and to a reinforced cooperation on readmis-

sion with partner countries.

- (1) Recital one, numbered like a footnote but not one.
"""


def test_plain_footnote_definitions_are_read_when_cited() -> None:
    blocks = parse_text(CONVERTED, markdown=True)
    notes = {b.footnote_id: b.text for b in blocks if b.kind == "footnote"}
    assert notes == {
        "12": "Joint Communication on the Pact for the Mediterranean.",
        "14": "Council of Europe ministers call for a political declaration.",
    }


def test_numbered_lines_that_nothing_cites_stay_text() -> None:
    text = "# Recitals\n\n(1) The first recital of the decision.\n\n(2) The second recital.\n"
    blocks = parse_text(text, markdown=True)
    assert [b.kind for b in blocks] == ["heading", "paragraph", "paragraph"]
    assert blocks[1].text == "(1) The first recital of the decision."


def test_paragraph_cut_by_a_page_break_is_joined_across_its_footnotes() -> None:
    blocks = merge_broken_paragraphs(parse_text(CONVERTED, markdown=True))
    paragraphs = [b.text for b in blocks if b.kind == "paragraph"]
    assert paragraphs[0].endswith(
        "the reflection of the Council of Europe in the context of the initiative launched in "
        "December 2025, and to a reinforced cooperation on readmission with partner countries."
    )
    assert [b.kind for b in blocks] == ["heading", "paragraph", "footnote", "footnote", "paragraph"]


def test_converted_markdown_ingests_with_footnotes_in_the_citing_chunk(tmp_path: Path) -> None:
    path = tmp_path / "strategy-extract.md"
    path.write_text(CONVERTED, encoding="utf-8")
    settings = make_settings(tmp_path)
    report = ingest(settings, path)
    assert report.ok, report.render()
    state = index_state(settings)
    state.assert_consistent()
    main = [c for c in state.chunks if "migrant smuggling" in c.text]
    assert len(main) == 1
    chunk = main[0]
    assert chunk.section_path == "2. Stepping up migration diplomacy"
    assert chunk.footnotes == ["12", "14"]
    assert "in the context of the initiative" in chunk.text
    assert "readmission with partner countries." in chunk.text
    assert "Footnote (12): Joint Communication" in chunk.text
    assert "<sup>" not in chunk.text and "(12)" not in chunk.text.split("Footnote")[0]
