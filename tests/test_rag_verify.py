"""Verification: the step that makes every composer's draft grounded. Unit level on real
candidates (chunks and sentence vectors of the session index of the default corpus, the real
embedding model), then at pipeline level: a draft with nothing supported becomes an
abstention.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from rag_helpers import describe, stored_candidate

from common.settings import Settings
from index.reader import IndexReader
from rag.composers.base import ComposeInput, Draft
from rag.composers.extractive import ExtractiveComposer
from rag.pipeline import Assistant
from rag.retrieval import Candidate
from rag.verify import Verifier, normalise_markers

BUDGET = "The maximum Union contribution for the implementation of the work programme"
REG = "In 2014, EMN has established the Return Expert Group"
CROSSINGS = "declined by 26% in 2025"


@pytest.fixture(scope="module")
def passages(reader: IndexReader) -> list[Candidate]:
    """[1] the budget article, [2] the REG paragraph, [3] the strategy's introduction."""
    return [stored_candidate(reader, text) for text in (BUDGET, REG, CROSSINGS)]


def test_invented_figure_removes_the_sentence(
    verifier: Verifier, passages: list[Candidate]
) -> None:
    draft = (
        "The maximum Union contribution for the work programme is EUR 28 200 000 [1]. "
        "The maximum Union contribution for the work programme is EUR 35 149 000 [1]. "
        "Overall figures for illegal border crossings declined by 62% in 2025 [3]."
    )
    result = verifier.verify(draft, passages)
    assert result.text == (
        "The maximum Union contribution for the work programme is EUR 28 200 000 [1]."
    )
    assert result.cited == [0]
    reasons = {r.sentence: r.reason for r in result.removed}
    assert len(reasons) == 2
    assert (
        "35149000"
        in reasons["The maximum Union contribution for the work programme is EUR 35 149 000."]
    )
    assert "62" in reasons["Overall figures for illegal border crossings declined by 62% in 2025."]


def test_figures_match_whatever_their_typography(
    verifier: Verifier, passages: list[Candidate]
) -> None:
    result = verifier.verify(
        "The maximum Union contribution for the work programme is EUR 28,200,000 [1].", passages
    )
    assert result.kept == 1 and not result.removed


def test_dangling_citation_is_removed(verifier: Verifier, passages: list[Candidate]) -> None:
    result = verifier.verify(
        "In 2014, EMN has established the Return Expert Group [9]. "
        "REG aims to increase practical cooperation between member states [2].",
        passages,
    )
    assert "[9]" not in result.text
    assert result.text == "REG aims to increase practical cooperation between member states [1]."
    assert [r.reason for r in result.removed] == ["dangling citation"]


def test_dangling_marker_next_to_a_valid_one_is_dropped(
    verifier: Verifier, passages: list[Candidate]
) -> None:
    result = verifier.verify("In 2014, EMN has established the Return Expert Group [2][9].",
                             passages)  # fmt: skip
    assert result.text == "In 2014, EMN has established the Return Expert Group [1]."
    assert result.cited == [1]


def test_uncited_sentence_is_removed(verifier: Verifier, passages: list[Candidate]) -> None:
    result = verifier.verify(
        "In 2014, EMN has established the Return Expert Group [2]. "
        "The Return Expert Group meets in Brussels every month.",
        passages,
    )
    assert result.text == "In 2014, EMN has established the Return Expert Group [1]."
    assert [r.reason for r in result.removed] == ["cites no retrieved passage"]


def test_unsupported_sentence_with_a_valid_marker_is_removed(
    verifier: Verifier, passages: list[Candidate]
) -> None:
    result = verifier.verify("Frontex will be abolished and replaced by national guards [1].",
                             passages)  # fmt: skip
    assert result.text == "" and result.kept == 0
    assert result.removed[0].reason == "not supported by the cited passages"


def test_markers_renumbered_in_order_of_appearance(
    verifier: Verifier, passages: list[Candidate]
) -> None:
    draft = (
        "Overall figures for illegal border crossings declined by 26% in 2025 [3]. "
        "In 2014, EMN has established the Return Expert Group [2]. "
        "The maximum Union contribution for the work programme is EUR 28 200 000 [1]. "
        "Illegal border crossings into the EU show a steady decrease [3]."
    )
    result = verifier.verify(draft, passages)
    assert [int(m) for m in re.findall(r"\[(\d+)\]", result.text)] == [1, 2, 3, 1]
    assert result.cited == [2, 1, 0]  # passage indexes, in marker order
    assert result.kept == 4 and not result.removed


def test_only_supporting_markers_are_kept(verifier: Verifier, passages: list[Candidate]) -> None:
    """'[1, 2]' is split; a cited passage that does not support the sentence is dropped."""
    result = verifier.verify(
        "In 2014, EMN has established the Return Expert Group [1, 2].", passages
    )
    assert result.text == "In 2014, EMN has established the Return Expert Group [1]."
    assert result.cited == [1]


def test_markers_after_the_full_stop_belong_to_the_sentence(
    verifier: Verifier, passages: list[Candidate]
) -> None:
    assert normalise_markers("One. [1] Two.[2][3]") == "One [1]. Two[2][3]."
    result = verifier.verify(
        "In 2014, EMN has established the Return Expert Group. [2] "
        "REG aims to increase practical cooperation between member states.[2]",
        passages,
    )
    assert result.text == (
        "In 2014, EMN has established the Return Expert Group [1]. "
        "REG aims to increase practical cooperation between member states [1]."
    )


def test_supported_paraphrase_is_kept(verifier: Verifier, passages: list[Candidate]) -> None:
    lexical = "The Return Expert Group was set up by the EMN in 2014 [2]."
    assert verifier.verify(lexical, passages).text == (
        "The Return Expert Group was set up by the EMN in 2014 [1]."
    )
    # Too few shared words to pass on words alone: the embedding model recognises it.
    paraphrase = "The REG, created in 2014, is the EMN's forum for return practitioners [2]."
    assert Verifier().verify(paraphrase, passages).kept == 0
    result = verifier.verify(paraphrase, passages)
    assert result.kept == 1, result.removed
    assert result.text == (
        "The REG, created in 2014, is the EMN's forum for return practitioners [1]."
    )
    # The same paraphrase with a wrong year is not.
    assert verifier.verify(paraphrase.replace("2014", "2019"), passages).kept == 0


def test_bullets_stay_bullets(verifier: Verifier, passages: list[Candidate]) -> None:
    result = verifier.verify(
        "- In 2014, EMN has established the Return Expert Group [2]\n"
        "- The maximum Union contribution for the work programme is EUR 28 200 000 [1]\n"
        "- Something nobody said [3]",
        passages,
    )
    assert result.text.split("\n") == [
        "- In 2014, EMN has established the Return Expert Group [1].",
        "- The maximum Union contribution for the work programme is EUR 28 200 000 [2].",
    ]


# --- pipeline level -------------------------------------------------------------------------


class MisquotingComposer(ExtractiveComposer):
    """A composer that gets every figure wrong: it quotes the right sentences and appends an
    amount no source holds. Its model is 'none', so there is nothing to fall back to."""

    def compose(self, data: ComposeInput) -> Draft:
        draft = super().compose(data)
        lines = [
            re.sub(r"\s*((\[\d+\])+)\s*([.:;]?)\s*$", r" (EUR 987 654 321) \1.", line)
            for line in draft.text.split("\n")
            if line.strip()
        ]
        return Draft(text="\n".join(lines))


@pytest.fixture(scope="module")
def misquoting(default_index_settings: Settings) -> Iterator[Assistant]:
    settings = default_index_settings.model_copy(update={"composer": "extractive"})
    assistant = Assistant(settings, composers={"extractive": MisquotingComposer()})
    yield assistant


def test_nothing_supported_left_means_abstained(misquoting: Assistant) -> None:
    answer = misquoting.ask(
        "What is the maximum Union contribution for the EMN work programme 2026-2027?"
    )
    assert answer.behaviour == "abstained", describe(answer)
    assert "987" not in answer.answer
    assert not answer.citations
    assert "closest documents" in answer.answer and "work programme" in answer.answer
    assert answer.confidence == 0.0
