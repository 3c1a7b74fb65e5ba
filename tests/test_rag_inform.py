"""Inform drafts that cover their topic (rag/inform.py, rag/inform_sections.py): every section
filled from its own retrieval, several documents when the topic spans them, sentences in the
brief's voice, verified citations; a topic the documents do not cover gives notes for the
author and nothing in the export.

Real default index, real embedding model, the extractive composer.
"""

from __future__ import annotations

import io
import re

import pytest
from docx import Document

from index.lexical import tokenize
from index.reader import IndexReader
from rag.brief_voice import clean, flags
from rag.inform import InformDraft, draft_inform
from rag.pipeline import Assistant
from rag.retrieval import Candidate
from rag.verify import LEXICAL_SUPPORT, Verifier, split_answer
from ui.export import flagged_sentences, to_docx, to_markdown

RETURN = "return and readmission cooperation with third countries"
STRATEGY = "com-2026-45-migration-strategy"


@pytest.fixture(scope="module")
def return_draft(assistant: Assistant) -> InformDraft:
    return draft_inform(assistant, RETURN)


def sentences(draft: InformDraft) -> list[str]:
    return [s for section in draft.sections for s in split_answer(section.text)]


def describe(draft: InformDraft) -> str:
    return "\n".join(f"## {s.heading} ({s.behaviour}) {s.note}\n{s.text}" for s in draft.sections)


def test_return_and_readmission_fills_all_four_sections(return_draft: InformDraft) -> None:
    # Before: policy implications abstained ("the documents do not cover this section").
    assert [s.behaviour for s in return_draft.sections] == ["answered"] * 4, describe(return_draft)
    assert all(s.text and not s.note for s in return_draft.sections)
    key_messages = return_draft.sections[0].text.splitlines()
    assert 3 <= len(key_messages) <= 5 and all(m.startswith("- ") for m in key_messages)


def test_a_topic_spanning_documents_cites_them(return_draft: InformDraft,
                                              assistant: Assistant) -> None:  # fmt: skip
    # Return is the strategy's chapter 5, and the EMN's Return Expert Group in its own pages:
    # before, all sources came from the strategy.
    cited = {c.doc_id for c in return_draft.citations}
    assert STRATEGY in cited and len(cited) >= 2, cited
    contact_points = draft_inform(assistant, "the EMN's national contact points")
    assert len({c.doc_id for c in contact_points.citations}) >= 3, describe(contact_points)


@pytest.mark.parametrize("topic", [RETURN, "integration of third-country nationals"])
def test_sentences_read_as_the_brief_not_as_lifted_quotes(assistant: Assistant,
                                                          topic: str) -> None:  # fmt: skip
    draft = draft_inform(assistant, topic)
    found = sentences(draft)
    assert len(found) >= 8, describe(draft)
    for sentence in found:
        assert flags(sentence) == [], sentence
        body = sentence.removeprefix("- ")
        assert not re.match(r"(In this respect|Moreover|To this end|Overall|In addition),", body)
        assert "(see section" not in body.lower() and not body.rstrip().endswith(":")


def test_every_marker_resolves_to_a_citation_that_supports_the_sentence(
    return_draft: InformDraft, reader: IndexReader, verifier: Verifier
) -> None:
    citations = {c.marker: c for c in return_draft.citations}
    assert sorted(citations) == list(range(1, len(citations) + 1))
    for sentence in sentences(return_draft):
        markers = [int(n) for n in re.findall(r"\[(\d+)\]", sentence)]
        assert markers and set(markers) <= set(citations), sentence
        plain = re.sub(r"\s*\[\d+\]", "", sentence).removeprefix("- ")
        for marker in markers:
            cite = citations[marker]
            assert cite.quote == reader.chunks[cite.chunk_id].text  # the passage, verbatim
            # A faithful quote: every word of the sentence is the cited passage's, and the
            # pipeline's verifier finds it supported.
            assert set(tokenize(plain)) <= set(tokenize(cite.quote)), (sentence, cite.quote)
            passage = Candidate(chunk=reader.chunks[cite.chunk_id])
            assert verifier.support(plain, passage) >= LEXICAL_SUPPORT, sentence


@pytest.mark.parametrize(
    ("topic", "behaviour"),
    [
        ("fisheries quotas in the Baltic", "declined"),  # not migration: the scope guard
        ("asylum seekers' access to dental care in Iceland", "abstained"),  # in scope, not here
    ],
)
def test_a_topic_the_documents_do_not_cover_gives_notes_and_no_export_sections(
    assistant: Assistant, topic: str, behaviour: str
) -> None:
    draft = draft_inform(assistant, topic)
    assert draft.behaviour == behaviour and not draft.citations, describe(draft)
    for section in draft.sections:
        assert section.behaviour == behaviour and section.text == ""
        assert section.note, section
    if behaviour == "abstained":
        assert "do not cover “Background” for this topic" in draft.sections[1].note
    exported = draft.model_dump(mode="json")
    markdown = to_markdown(exported)
    paragraphs = [p.text for p in Document(io.BytesIO(to_docx(exported))).paragraphs]
    for section in draft.sections:
        assert f"## {section.heading}" not in markdown
        assert section.heading not in paragraphs
        assert section.note not in markdown and section.note not in " ".join(paragraphs)
    # One note to the author says which sections were left out (ui/export.py).
    assert "left out because the documents do not cover them" in markdown


def test_the_export_keeps_the_covered_sections_and_leaves_out_the_others(
    return_draft: InformDraft,
) -> None:
    exported = return_draft.model_dump(mode="json")
    exported["sections"][2] = {**exported["sections"][2], "text": "", "behaviour": "abstained",
                               "note": "The documents do not cover “Main findings”."}  # fmt: skip
    markdown = to_markdown(exported)
    paragraphs = [p.text for p in Document(io.BytesIO(to_docx(exported))).paragraphs]
    for heading in ("Key messages", "Background", "Policy implications"):
        assert f"## {heading}" in markdown and heading in paragraphs
    assert "## Main findings" not in markdown and "Main findings" not in paragraphs
    assert "The documents do not cover “Main findings”" not in markdown  # the page's note
    assert "do not cover them: Main findings." in markdown  # the export's note to the author
    assert not flagged_sentences(exported), flagged_sentences(exported)


def test_the_notes_are_in_the_topics_language(assistant: Assistant) -> None:
    declined = draft_inform(assistant, "Fischereiquoten in der Ostsee")
    assert declined.language == "de" and declined.behaviour == "declined", describe(declined)
    assert declined.sections[0].heading == "Kernaussagen"
    assert all(s.note and "EU" in s.note and "help" not in s.note for s in declined.sections)
    draft = draft_inform(assistant, "Rückkehr und Rückübernahme")
    assert draft.behaviour == "answered", describe(draft)
    for section in draft.sections:
        if not section.text:
            assert section.note.startswith("Die Dokumente behandeln"), describe(draft)


def test_the_voice_rules_keep_the_claim_and_drop_only_what_leans_on_the_source() -> None:
    assert clean(
        "In this respect, improved cooperation on readmission remains a key priority."
    ) == ("Improved cooperation on readmission remains a key priority.")
    assert clean(
        "Actions to reinforce voluntary returns go hand in hand with the efforts to reinforce "
        "return (see section 5)."
    ) == ("Actions to reinforce voluntary returns go hand in hand with the efforts to reinforce "
          "return.")  # fmt: skip
    assert clean("Moreover, to this end, the Commission will propose a new framework.") == (
        "The Commission will propose a new framework."
    )
    assert clean("The Member States shall take the following measures:") is None
    assert clean("EMN Work Programmes are available here.") is None
    assert clean("(a) EUR 25 450 000 for 2026;") is None
    assert clean("SUPPORTING RETURNS FROM THIRD COUNTRIES") is None
    # A claim that announces a list keeps the claim.
    assert clean("The contribution is set at EUR 28 200 000, as follows:") == (
        "The contribution is set at EUR 28 200 000."
    )
