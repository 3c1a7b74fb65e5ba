"""Answers that lead with what was asked: the first sentence holds the asked-for value, a
sentence announcing a list brings the list, a document's title line is not an answer.

Real default index, real embedding model, the extractive composer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rag_helpers import assert_answered, describe

from common.sentences import sentences
from common.settings import Settings
from rag.pipeline import Assistant


@pytest.fixture(scope="module")
def assistant(default_index_settings: Settings) -> Iterator[Assistant]:
    settings = default_index_settings.model_copy(update={"composer": "extractive"})
    assistant = Assistant(settings)
    assistant.warm_up()
    yield assistant


def first_sentence(text: str) -> str:
    line = next(line for line in text.splitlines() if line.strip())
    return sentences(line)[0]


def test_first_sentence_holds_the_figure_asked_for(assistant: Assistant) -> None:
    answer = assistant.ask("How much is allocated to the EMN for the year 2027?")
    assert_answered(answer)
    assert "2 750 000" in first_sentence(answer.answer), describe(answer)


def test_a_sentence_announcing_a_list_brings_its_items(assistant: Assistant) -> None:
    answer = assistant.ask(
        "By what means should the EMN achieve its objectives under the Council Decision?"
    )
    assert_answered(answer)
    lines = answer.answer.splitlines()
    announcing = next(i for i, line in enumerate(lines) if "achieved by" in line)
    items = [line for line in lines[announcing + 1 :] if line.startswith("- ")]
    assert len(items) >= 3, describe(answer)
    assert any("collecting and exchanging" in item for item in items), describe(answer)


def test_the_documents_title_line_does_not_lead(assistant: Assistant) -> None:
    answer = assistant.ask("What is the EMN work programme 2026-2027 about?")
    head = first_sentence(answer.answer).lower()
    assert not head.startswith("commission implementing decision"), describe(answer)
