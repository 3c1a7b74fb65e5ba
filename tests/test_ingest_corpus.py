"""Chunking of the real default corpus (corpus/ with its catalog), as ingested once per test
session by the `default_index_settings` fixture of tests/conftest.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ingest_helpers import IndexState, index_state

from common.embedding import embedder_from_settings
from common.sentences import split_sentences
from common.settings import PROJECT_ROOT, Settings
from index.schema import CHUNKER_VERSION, Chunk, IndexPaths
from ingest.blocks import FOOTNOTE_MARK
from ingest.catalog import Catalog
from ingest.chunking import footnote_line, merge_broken_paragraphs
from ingest.loaders import load_document
from ingest.pipeline import embedding_text, run_ingest
from ingest.sections import is_section_heading

CORPUS = PROJECT_ROOT / "corpus"
STRATEGY = "com-2026-45-migration-strategy"
WORK_PROGRAMME = "emn-work-programme-2026-2027"
READMISSION = "5. More effective return and readmission > Improving readmission by third countries"


@pytest.fixture(scope="module")
def corpus(default_index_settings: Settings) -> IndexState:
    """The session's index of the default corpus (tests/conftest.py), read-only."""
    return index_state(default_index_settings)


def chunks_with(state: IndexState, needle: str) -> list[Chunk]:
    return [c for c in state.chunks if needle in c.text]


def test_every_catalogued_document_is_indexed_consistently(
    default_index_settings: Settings, corpus: IndexState
) -> None:
    catalog = Catalog.load(CORPUS / "catalog.json")
    assert set(corpus.records) == {e.id for e in catalog.documents}  # no uncatalogued file
    corpus.assert_consistent()
    manifest = IndexPaths(default_index_settings.index_dir).read_manifest()
    assert manifest is not None
    assert (manifest.documents, manifest.chunks) == (len(catalog.documents), len(corpus.chunks))
    assert manifest.sentences == corpus.sentences > len(corpus.chunks)
    assert manifest.chunker_version == CHUNKER_VERSION


def test_strategy_footnote_on_falling_crossings_is_with_the_sentence_citing_it(
    corpus: IndexState,
) -> None:
    found = chunks_with(corpus, "declined by 26% in 2025")
    assert len(found) == 1
    chunk = found[0]
    assert chunk.doc.doc_id == STRATEGY
    assert "gradual reduction in illegal arrivals since 2023" in chunk.text
    assert chunk.section_path == "1. Introduction"
    assert "1" in chunk.footnotes
    assert "Footnote (1): Illegal border crossings into the EU show a steady decrease" in chunk.text
    assert not FOOTNOTE_MARK.search(chunk.text)


def test_footnotes_defined_without_markup_and_a_paragraph_cut_by_a_page_break(
    corpus: IndexState,
) -> None:
    """In the strategy, footnotes 12-14 are defined as plain "(14) ..." lines, and they sit
    between the two halves of a paragraph cut by a page break."""
    found = chunks_with(corpus, "Council of Europe in the context of the initiative launched")
    assert len(found) == 1
    chunk = found[0]
    assert "14" in chunk.footnotes
    assert "\nFootnote (14): Migration challenges: Council of Europe ministers" in chunk.text
    assert not any(c.text.startswith(("(12)", "(13)", "(14)")) for c in corpus.chunks)
    mediterranean = chunks_with(corpus, "integral to the Pact for the Mediterranean")
    assert len(mediterranean) == 1 and "12" in mediterranean[0].footnotes


def test_work_programme_budget_table_is_one_whole_chunk(corpus: IndexState) -> None:
    found = chunks_with(corpus, "28 200 000")
    tables = [c for c in found if c.block == "table"]
    assert len(tables) == 1
    table = tables[0]
    assert table.doc.doc_id == WORK_PROGRAMME
    for row in [
        "Implementation arrangements | Amounts in EUR",
        "Grants: | 19 105 100",
        "Procurement: | 4 664 900",
        "Indirect management: | 2 930 000",
        "Other actions or expenditures: | 1 500 000",
        "TOTAL: | 28 200 000",
    ]:
        assert row in table.text.split("\n")
    assert corpus.chroma_meta[table.id]["block"] == "table"


def test_readmission_subsection_of_the_strategy_has_chunks(corpus: IndexState) -> None:
    chunks = [c for c in corpus.chunks if c.section_path == READMISSION]
    assert chunks and all(c.doc.doc_id == STRATEGY for c in chunks)
    assert any("Cooperation on readmission" in c.text for c in chunks)
    assert corpus.chroma_meta[chunks[0].id]["section_path"] == READMISSION


def test_no_text_chunk_exceeds_the_model_window(
    default_index_settings: Settings, corpus: IndexState
) -> None:
    settings = default_index_settings
    embedder = embedder_from_settings(settings)
    window = embedder.max_seq_length
    assert window == 256
    for chunk in corpus.chunks:
        if chunk.block == "table":
            continue  # a table is kept whole whatever its size
        assert embedder.count_tokens(chunk.text) <= window, chunk.id
        # What is embedded (section path + text, with [CLS] and [SEP]) fits too: no tail is
        # silently truncated away from the dense vector.
        assert embedder.count_tokens(embedding_text(chunk)) + 2 <= window, chunk.id


def _source_texts(path: Path) -> list[str]:
    """Paragraph, table and footnote texts as the chunker sees them."""
    _, blocks = load_document(path)
    blocks = merge_broken_paragraphs(blocks)  # as the chunker does
    texts = []
    for block in blocks:
        if block.kind == "footnote":
            texts.append(footnote_line(block.footnote_id, block.text))
        elif block.kind in ("paragraph", "table") or not is_section_heading(block.text):
            texts.append(FOOTNOTE_MARK.sub("", block.text))  # a too long "heading" is text
    return texts


def _boundary_ok(piece: str, sources: list[str], at_end: bool, too_long: int) -> bool:
    """`piece` starts (or ends) where a sentence of its source paragraph starts (or ends)."""
    for source in sources:
        start = source.find(piece)
        if start < 0:
            continue
        cut = start + len(piece) if at_end else start
        if cut in (0, len(source)):
            return True
        spans = split_sentences(source)
        if any((b if at_end else a) == cut for a, b in spans):
            return True
        # Only a sentence longer than the model window may be cut inside.
        inside = [(a, b) for a, b in spans if a < cut < b]
        if inside and inside[0][1] - inside[0][0] > too_long:
            return True
    return False


def test_chunks_start_and_end_at_sentence_boundaries(corpus: IndexState) -> None:
    catalog = Catalog.load(CORPUS / "catalog.json")
    files = {e.id: CORPUS / e.file for e in catalog.documents}
    sources = {doc_id: _source_texts(path) for doc_id, path in files.items()}
    checked = 0
    for chunk in corpus.chunks:
        body = chunk.text
        for fid in reversed(chunk.footnotes):  # attached footnotes follow the body
            body = body.rsplit(f"\n\nFootnote ({fid}): ", 1)[0].rsplit(f"\nFootnote ({fid}): ", 1)[
                0
            ]
        paragraphs = body.split("\n\n")
        first, last = paragraphs[0], paragraphs[-1]
        assert _boundary_ok(first, sources[chunk.doc.doc_id], False, 1000), (chunk.id, first)
        assert _boundary_ok(last, sources[chunk.doc.doc_id], True, 1000), (chunk.id, last)
        checked += 1
    assert checked == len(corpus.chunks) > 100


def test_chunk_metadata(corpus: IndexState) -> None:
    catalog = {e.id: e for e in Catalog.load(CORPUS / "catalog.json").documents}
    previous: dict[str, Chunk] = {}
    for chunk in sorted(corpus.chunks, key=lambda c: (c.doc.doc_id, c.ordinal)):
        entry = catalog[chunk.doc.doc_id]
        meta = corpus.chroma_meta[chunk.id]
        assert meta["doc_id"] == entry.id
        assert meta["title"] == entry.title
        assert meta["reference"] == entry.reference
        assert meta["kind"] == entry.kind
        assert meta["date"] == entry.date
        assert meta["section_path"] == chunk.section_path
        assert meta["chunker_version"] == chunk.chunker_version == CHUNKER_VERSION
        assert (meta["char_start"], meta["char_end"]) == (chunk.char_start, chunk.char_end)
        assert 0 <= chunk.char_start <= chunk.char_end
        before = previous.get(chunk.doc.doc_id)
        if before is not None:
            assert chunk.ordinal == before.ordinal + 1
            assert chunk.char_start >= before.char_end  # spans follow the reading order
        previous[chunk.doc.doc_id] = chunk
    strategy = corpus.chroma_meta[chunks_with(corpus, "declined by 26% in 2025")[0].id]
    assert (strategy["reference"], strategy["date"], strategy["kind"]) == (
        "COM(2026) 45 final",
        "2026-01-29",
        "strategy",
    )


def test_second_run_over_the_unchanged_corpus_embeds_nothing(
    default_index_settings: Settings, corpus: IndexState, tmp_path: Path
) -> None:
    settings = default_index_settings.model_copy(update={"index_dir": tmp_path / "index"})
    shutil.copytree(default_index_settings.index_dir, settings.index_dir)  # ours to change
    again = run_ingest(settings, progress=False)
    assert again.ok
    assert not again.warnings, again.warnings  # every sha256 in the catalog is current
    assert again.texts_embedded == 0
    assert [r.status for r in again.results] == ["unchanged"] * len(corpus.records)
    assert again.chunks_unchanged == len(corpus.chunks)
    assert again.chunks_added == again.chunks_removed == 0
    assert set(index_state(settings).store_ids) == corpus.store_ids
