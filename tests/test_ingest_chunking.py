"""Chunk sizing with the embedding model's own tokenizer: sentence boundaries, footnotes that
travel with their sentence, the section path's share of the window, tables whole."""

from __future__ import annotations

import pytest

from common.embedding import Embedder, embedder_from_settings
from common.sentences import sentences
from common.settings import Settings
from index.schema import Chunk, DocumentMeta
from ingest.blocks import Block, footnote_mark
from ingest.chunking import chunk_blocks
from ingest.pipeline import embedding_text

MAX = 254  # the pipeline's budget: 256-token window minus [CLS] and [SEP]
DOC = DocumentMeta(doc_id="test-doc", title="Test document")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return embedder_from_settings(Settings())


def chunk(blocks: list[Block], embedder: Embedder, max_tokens: int = MAX) -> list[Chunk]:
    return chunk_blocks(blocks, DOC, embedder.count_tokens, max_tokens=max_tokens)


def numbered_sentences(n: int) -> list[str]:
    return [
        f"Sentence {i} says that Member State number {i} reported {i * 11} return decisions."
        for i in range(n)
    ]


def test_long_paragraph_is_split_between_sentences(embedder: Embedder) -> None:
    text = " ".join(numbered_sentences(60))
    chunks = chunk(
        [Block(kind="heading", text="1. Returns", level=2), Block(kind="paragraph", text=text)],
        embedder,
    )
    assert len(chunks) > 1
    rebuilt = []
    for c in chunks:
        assert embedder.count_tokens(embedding_text(c)) <= MAX
        assert c.section_path == "1. Returns"
        rebuilt += sentences(c.text)
    assert rebuilt == numbered_sentences(60)  # every sentence whole, once, in order


def test_section_path_counts_against_the_window(embedder: Embedder) -> None:
    section = "4. A firm, fair and adaptable asylum and migration system > " + " ".join(
        ["Modernising asylum procedures through digitalisation and the use of AI"] * 2
    )
    blocks = [
        Block(kind="heading", text=t, level=i + 2) for i, t in enumerate(section.split(" > "))
    ]
    blocks.append(Block(kind="paragraph", text=" ".join(numbered_sentences(40))))
    chunks = chunk(blocks, embedder)
    assert chunks[0].section_path == section
    assert embedder.count_tokens(section) > 20
    for c in chunks:
        assert embedder.count_tokens(embedding_text(c)) <= MAX


def test_a_sentence_longer_than_the_window_is_cut_at_clauses(embedder: Embedder) -> None:
    names = [f"the Agency for Topic {i} (AGENCY{i})" for i in range(70)]
    sentence = "The network cooperates with " + ", ".join(names) + "."
    assert embedder.count_tokens(sentence) > MAX
    chunks = chunk([Block(kind="paragraph", text=sentence)], embedder)
    assert len(chunks) >= 2
    for c in chunks:
        assert embedder.count_tokens(c.text) <= MAX
        assert c.text.endswith((",", "."))  # cut after a clause, never inside a name
    assert " ".join(c.text for c in chunks) == sentence


def test_footnote_stays_with_the_sentence_that_cites_it_in_a_long_paragraph(
    embedder: Embedder,
) -> None:
    parts = numbered_sentences(50)
    parts[31] = parts[31] + footnote_mark("7")  # the mark follows the full stop
    blocks = [
        Block(kind="paragraph", text=" ".join(parts)),
        Block(
            kind="footnote", footnote_id="7", text="Eurostat figures for 2025 show 482 000 returns."
        ),
    ]
    chunks = chunk(blocks, embedder)
    holding = [c for c in chunks if "482 000 returns" in c.text]
    assert len(holding) == 1
    assert numbered_sentences(50)[31] in holding[0].text
    assert holding[0].footnotes == ["7"]
    assert "Footnote (7): Eurostat figures" in holding[0].text


def test_footnotes_too_big_to_fit_beside_their_sentence_follow_it(embedder: Embedder) -> None:
    long_note = "Directive text " + " ".join(f"article {i} paragraph {i}" for i in range(45))
    text = (
        "Enforcement should ensure that the Seasonal Workers Directive"
        + footnote_mark("62")
        + ", the Employers Sanctions Directive"
        + footnote_mark("63")
        + " and the Single Permit Directive"
        + footnote_mark("64")
        + " are applied."
    )
    blocks = [
        Block(kind="heading", text="6. Labour mobility", level=2),
        Block(kind="paragraph", text=text),
        Block(kind="footnote", footnote_id="62", text="Directive 2014/36/EU. " + long_note),
        Block(kind="footnote", footnote_id="63", text="Directive 2009/52/EC. " + long_note),
        Block(kind="footnote", footnote_id="64", text="Directive (EU) 2024/1233. " + long_note),
    ]
    chunks = chunk(blocks, embedder)
    for c in chunks:
        assert embedder.count_tokens(embedding_text(c)) <= MAX, c.text
    first = chunks[0]
    assert first.text.startswith("Enforcement should ensure that the Seasonal Workers Directive")
    assert "are applied." in first.text  # the sentence itself is never cut
    assert first.footnotes == ["62"]  # as many as fit, in citation order
    rest = chunks[1:]
    assert [c.text.split(":")[0] for c in rest] == ["Footnote (63)", "Footnote (64)"]
    everything = "\n".join(c.text for c in chunks)
    for ref in ("2014/36/EU", "2009/52/EC", "(EU) 2024/1233"):
        assert everything.count(ref) == 1  # each footnote kept, once
    assert all(c.section_path == "6. Labour mobility" for c in chunks)


def test_table_is_kept_whole_even_when_larger_than_the_window(embedder: Embedder) -> None:
    rows = ["Member State | Amount in EUR"] + [
        f"Country {i} | {i * 1000 + 17} 000" for i in range(80)
    ]
    table = "\n".join(rows)
    assert embedder.count_tokens(table) > MAX
    chunks = chunk(
        [
            Block(kind="paragraph", text="Indicative allocations per Member State follow."),
            Block(kind="table", text=table),
            Block(kind="paragraph", text="The allocations may be revised in 2027."),
        ],
        embedder,
    )
    tables = [c for c in chunks if c.block == "table"]
    assert len(tables) == 1 and table in tables[0].text
    assert sum(c.text.count("Country 42 |") for c in chunks) == 1


def test_chunks_never_cross_sections(embedder: Embedder) -> None:
    blocks = [
        Block(kind="heading", text="1. Introduction", level=2),
        Block(kind="paragraph", text="Short introduction."),
        Block(kind="heading", text="2. Returns", level=2),
        Block(kind="paragraph", text="Short text on returns."),
        Block(kind="heading", text="Readmission", level=3),
        Block(kind="paragraph", text="Short text on readmission."),
    ]
    chunks = chunk(blocks, embedder)
    assert [(c.section_path, c.text) for c in chunks] == [
        ("1. Introduction", "Short introduction."),
        ("2. Returns", "Short text on returns."),
        ("2. Returns > Readmission", "Short text on readmission."),
    ]
    assert len({c.id for c in chunks}) == 3
    again = chunk(blocks, embedder)
    assert [c.id for c in again] == [c.id for c in chunks]  # content-hash ids are stable


def test_a_paragraph_announcing_a_list_stays_with_the_list(embedder: Embedder) -> None:
    # Enough text before the announcement that the list does not fit in the same chunk:
    # the colon paragraph moves into the list's chunk instead of ending the previous one.
    before = " ".join(numbered_sentences(9))
    items = "\n".join(f"- item {i} on reception capacity and return procedures" for i in range(6))
    blocks = [
        Block(kind="heading", text="2. Means", level=2),
        Block(kind="paragraph", text=before),
        Block(kind="paragraph", text="These objectives should be achieved by the following:"),
        Block(kind="paragraph", text=items),
    ]
    chunks = chunk(blocks, embedder, max_tokens=180)
    assert len(chunks) >= 2
    with_list = next(c for c in chunks if "- item 0" in c.text)
    assert "achieved by the following:" in with_list.text
    assert not any(c.text.rstrip().endswith("following:") for c in chunks)
