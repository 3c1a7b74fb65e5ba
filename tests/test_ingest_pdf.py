"""The PDF path on real PDF files: written with fpdf2, read back with pypdf, ingested into a real
index."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_helpers import (
    RUNNING_FOOTER,
    RUNNING_HEADER,
    IndexState,
    build_report_pdf,
    index_state,
    ingest,
    make_settings,
)

from index.schema import Chunk
from ingest.blocks import FOOTNOTE_MARK
from ingest.loaders.pdf import load_pdf_file

INTRO = "1. Introduction"
RETURNS = "2. Returns"
READMISSION = "2. Returns > Readmission"
WRAPPED = "3. Cooperation with countries of origin and transit on return and reintegration"


@pytest.fixture(scope="module")
def report_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report_pdf(tmp_path_factory.mktemp("pdf") / "emn-inform-returns.pdf")


@pytest.fixture(scope="module")
def pdf_index(tmp_path_factory: pytest.TempPathFactory, report_pdf: Path) -> IndexState:
    settings = make_settings(tmp_path_factory.mktemp("pdf-index"))
    report = ingest(settings, report_pdf)
    assert report.ok, report.render()
    state = index_state(settings)
    state.assert_consistent()
    return state


def chunk_with(state: IndexState, needle: str) -> Chunk:
    found = [c for c in state.chunks if needle in c.text]
    assert len(found) == 1, f"{needle!r} is in {len(found)} chunks"
    return found[0]


def test_the_fixture_is_a_real_three_page_pdf(report_pdf: Path) -> None:
    from pypdf import PdfReader

    reader = PdfReader(str(report_pdf))
    assert len(reader.pages) == 3
    assert "migra-" in reader.pages[0].extract_text()  # the raw text still has the break


def test_sections_come_from_numbered_and_sub_headings(pdf_index: IndexState) -> None:
    paths = [c.section_path for c in pdf_index.chunks]
    assert set(paths) == {INTRO, RETURNS, READMISSION, WRAPPED}
    assert chunk_with(pdf_index, "take back their nationals").section_path == READMISSION
    assert chunk_with(pdf_index, "return rate in all Member States").section_path == RETURNS


def test_a_heading_wrapped_over_two_lines_is_one_section(pdf_index: IndexState) -> None:
    assert chunk_with(pdf_index, "rebuild their lives").section_path == WRAPPED


def test_page_numbers_per_chunk(pdf_index: IndexState) -> None:
    intro = chunk_with(pdf_index, "comparative studies on asylum")
    assert (intro.page, intro.page_end) == (1, 2)  # its last paragraph runs onto page 2
    returns = chunk_with(pdf_index, "return rate in all Member States")
    assert (returns.page, returns.page_end) == (2, 2)
    readmission = chunk_with(pdf_index, "take back their nationals")
    assert (readmission.page, readmission.page_end) == (2, 2)
    last = chunk_with(pdf_index, "rebuild their lives")
    assert (last.page, last.page_end) == (3, 3)
    for chunk in pdf_index.chunks:
        assert pdf_index.chroma_meta[chunk.id]["page"] == chunk.page


def test_footnote_set_with_text_rise_travels_with_its_sentence(pdf_index: IndexState) -> None:
    chunk = chunk_with(pdf_index, "declined by 26% in 2025")
    assert "Irregular border crossings into the Union fell sharply in 2025." in chunk.text
    assert chunk.footnotes == ["1"]
    # The superscript digit is not glued to the text, and no placeholder is left behind.
    assert "2025.1" not in chunk.text
    assert "fell sharply in 2025. Member States expect the trend" in chunk.text


def test_footnote_raised_by_position_and_numbered_with_a_superscript(
    pdf_index: IndexState,
) -> None:
    chunk = chunk_with(pdf_index, "18 readmission agreements and 6 arrangements")
    assert "Twenty-four agreements and arrangements are in force." in chunk.text
    assert chunk.footnotes == ["2"]
    assert "Footnote (2): The EU has concluded 18 readmission" in chunk.text


def test_hyphenation_is_repaired_at_line_ends_and_across_the_page_break(
    pdf_index: IndexState,
) -> None:
    text = "\n".join(c.text for c in pdf_index.chunks)
    assert "on irregular migration to the network" in text
    assert "cooperation on readmission with countries of origin and transit." in text
    assert "migra-" not in text and "readmis-" not in text


def test_running_header_footer_and_page_numbers_are_dropped(pdf_index: IndexState) -> None:
    for chunk in pdf_index.chunks:
        assert RUNNING_HEADER not in chunk.text
        assert "EMN Inform |" not in chunk.text
        assert RUNNING_FOOTER not in chunk.text
        assert "Page " not in chunk.text and " of 3" not in chunk.text
        assert not FOOTNOTE_MARK.search(chunk.text)


def test_chunk_text_and_metadata_reach_chroma(pdf_index: IndexState, report_pdf: Path) -> None:
    for chunk in pdf_index.chunks:
        meta = pdf_index.chroma_meta[chunk.id]
        assert pdf_index.chroma_docs[chunk.id] == chunk.text
        assert meta["section_path"] == chunk.section_path
        assert meta["doc_id"] == "emn-inform-returns"
        assert meta["kind"] == "pdf document"
    assert pdf_index.records["emn-inform-returns"].source_file == str(report_pdf)


def test_loader_blocks_in_reading_order(report_pdf: Path) -> None:
    blocks = load_pdf_file(report_pdf)
    kinds = [(b.kind, b.page) for b in blocks]
    assert kinds == [
        ("heading", 1),
        ("paragraph", 1),
        ("paragraph", 1),
        ("paragraph", 1),
        ("footnote", 1),
        ("heading", 2),
        ("paragraph", 2),
        ("heading", 2),
        ("paragraph", 2),
        ("footnote", 2),
        ("heading", 3),
        ("paragraph", 3),
    ]
    assert blocks[3].page_end == 2
    assert [b.footnote_id for b in blocks if b.kind == "footnote"] == ["1", "2"]
    assert blocks[9].text == "The EU has concluded 18 readmission agreements and 6 arrangements."
