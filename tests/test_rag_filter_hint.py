"""An abstention under filters names the filters and offers to search without them, in the
question's language; the `reason` says so too (on the real default corpus)."""

from __future__ import annotations

from rag_helpers import describe

from common.texts import available_languages, text
from index.schema import Filters
from rag.filter_hint import describe_filters
from rag.pipeline import Assistant

BUDGET = "What is the maximum Union contribution for the EMN work programme 2026-2027?"
WORK_PROGRAMME_TITLE = "Commission Implementing Decision on the financing of the European"


def test_filters_are_described_in_the_questions_language() -> None:
    filters = Filters(kinds=["strategy"], doc_ids=["a", "b"], date_from="2026-01-01",
                      date_to="2026-12-31")  # fmt: skip
    assert describe_filters(filters, "en") == (
        "kind: strategy; document: a, b; from 2026-01-01; until 2026-12-31"
    )
    assert describe_filters(Filters(kinds=["strategy"]), "fr") == "type : strategy"
    for code in available_languages():
        described = describe_filters(filters, code)
        assert "strategy" in described and "2026-12-31" in described, code
        assert text(code, "messages", "retry_without_filters"), code


def test_an_abstention_under_filters_names_them_and_where_else_to_look(
    assistant: Assistant,
) -> None:
    answer = assistant.ask(BUDGET, filters=Filters(kinds=["web page"]))
    assert answer.behaviour == "abstained", describe(answer)
    assert "within the filters you set (kind: web page)" in answer.answer, answer.answer
    assert "Try again without the filters." in answer.answer
    # One retrieval without the filters: the work programme holds the figure.
    assert f"Without the filters, the closest documents are: {WORK_PROGRAMME_TITLE}" in (
        answer.answer
    )
    assert "within the filters you set (kind: web page)" in answer.reason
    assert "try again without the filters" in answer.reason
    unfiltered = assistant.ask(BUDGET)
    assert unfiltered.behaviour == "answered", describe(unfiltered)


def test_an_abstention_without_filters_is_unchanged(assistant: Assistant) -> None:
    answer = assistant.ask("What is the EMN budget for 2031?")
    assert answer.behaviour == "abstained", describe(answer)
    assert "filters" not in answer.answer and "filters" not in answer.reason
    assert answer.answer.startswith(text("en", "messages", "abstain"))


def test_the_filter_note_is_in_the_questions_language(assistant: Assistant) -> None:
    question = (
        "Quelle est la contribution maximale de l'Union pour le programme de travail du REM "
        "2026-2027 ?"
    )
    answer = assistant.ask(question, filters=Filters(kinds=["web page"]))
    assert answer.language == "fr", describe(answer)
    assert answer.behaviour == "abstained", describe(answer)
    assert "des filtres que vous avez définis (type : web page)" in answer.answer, answer.answer
    assert "Réessayez sans les filtres." in answer.answer
