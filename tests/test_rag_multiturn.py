"""Multi-turn: follow-up questions are rewritten into stand-alone ones from the history, and
the rewritten question is answered (on the real default corpus)."""

from __future__ import annotations

import pytest
from rag_helpers import assert_answered, describe, has_figure

from rag.answer import Turn
from rag.pipeline import Assistant
from rag.rewrite import rewrite_followup


def conversation(assistant: Assistant, *questions: str) -> list:
    """Ask each question with the turns before it as history; all the answers."""
    history: list[Turn] = []
    answers = []
    for question in questions:
        answer = assistant.ask(question, history=history)
        answers.append(answer)
        history += [Turn(role="user", content=question),
                     Turn(role="assistant", content=answer.answer)]  # fmt: skip
    return answers


def test_year_follow_up_is_answered_for_the_new_year(assistant: Assistant) -> None:
    first, second = conversation(assistant, "What is the EMN budget for 2026?", "and for 2027?")
    assert first.behaviour == "answered", describe(first)
    assert "2027" in second.question and "budget" in second.question.lower(), second.question
    assert_answered(second)
    assert has_figure(second.answer, "2 750 000"), describe(second)
    assert any(c.doc_id == "emn-work-programme-2026-2027" for c in second.citations)


def test_topic_follow_up_keeps_the_frame_of_the_previous_question(assistant: Assistant) -> None:
    _, second = conversation(
        assistant, "What does the strategy say about borders?", "what about return?"
    )
    assert second.question == "What does the strategy say about return?"
    assert_answered(second)
    assert "return" in second.answer.lower(), describe(second)
    assert any("return" in c.section_path.lower() for c in second.citations), describe(second)


def test_pronoun_follow_up_gets_the_subject_of_the_previous_question(
    assistant: Assistant,
) -> None:
    _, second = conversation(
        assistant,
        "What does the strategy say about the Talent Pool?",
        "When will it be operational?",
    )
    assert second.question == "When will the Talent Pool be operational?"
    assert_answered(second)
    assert "2027" in second.answer, describe(second)


def test_follow_up_without_history_is_left_alone(assistant: Assistant) -> None:
    answer = assistant.ask("and for 2027?")
    assert answer.question == "and for 2027?"
    assert answer.behaviour != "answered" or answer.citations


def test_the_budget_split_follow_up_is_answered(assistant: Assistant) -> None:
    """The follow-up of the API's OpenAPI example: answered with both years' figures."""
    history = [Turn(role="user", content="What is the EMN budget for 2026-2027?"),
               Turn(role="assistant", content="EUR 28 200 000 [1].")]  # fmt: skip
    answer = assistant.ask("And how is it split between the two years?", history=history)
    assert_answered(answer)
    assert has_figure(answer.answer, "25 450 000") and has_figure(answer.answer, "2 750 000")


def test_a_follow_up_is_judged_in_scope_with_the_question_it_follows(
    assistant: Assistant,
) -> None:
    """'how is funding for 2026 split?' alone has no word of the domain; after a question on
    the work programme it is in scope (it was declined as out of scope)."""
    history = [
        Turn(role="user", content="What does the work programme say about funding for 2026?"),
        Turn(role="assistant", content="EUR 25 450 000 [1]."),
    ]
    answer = assistant.ask("And how is it split?", history=history)
    assert answer.behaviour != "declined", describe(answer)
    alone = assistant.ask("how is funding for 2026 split?")
    assert alone.behaviour == "declined" and alone.reason == "out of scope", describe(alone)


def test_stand_alone_question_in_a_conversation_is_not_rewritten(assistant: Assistant) -> None:
    _, second = conversation(
        assistant,
        "What is the EMN budget for 2026?",
        "Which countries are observers in the EMN?",
    )
    assert second.question == "Which countries are observers in the EMN?"
    assert "Norway" in second.answer, describe(second)


@pytest.mark.parametrize(
    ("previous", "follow_up", "expected"),
    [
        ("What is the EMN budget for 2026?", "and for 2027?", "What is the EMN budget for 2027?"),
        ("What is the EMN budget for 2026?", "And 2027?", "What is the EMN budget for 2027?"),
        (
            "What was the EMN budget for 2024-2025?",
            "and for 2026-2027?",
            "What was the EMN budget for 2026-2027?",
        ),
        (
            "By what percentage did illegal border crossings fall in 2025?",
            "and in 2024?",
            "By what percentage did illegal border crossings fall in 2024?",
        ),
        (
            "What does the strategy say about borders?",
            "what about return?",
            "What does the strategy say about return?",
        ),
        (
            "What is the EMN budget for 2026?",
            "Which countries are observers in the EMN?",
            "Which countries are observers in the EMN?",
        ),
        # Complete questions with few content words stand alone too (they were rewritten
        # into "... (who are the EMN observer countries)?").
        (
            "Who are the EMN observer countries?",
            "what is the EMN budget for 2026-2027?",
            "what is the EMN budget for 2026-2027?",
        ),
        ("Who are the EMN observer countries?", "what is the EMN?", "what is the EMN?"),
        (
            "What is the EMN budget for 2026?",
            "how many NCPs are there?",
            "how many NCPs are there?",
        ),
        # "it" is the budget, not the period the previous question was "for" (the API's
        # own example follow-up was rewritten into "how is 2026-2027 split ...?").
        (
            "What is the EMN budget for 2026-2027?",
            "And how is it split between the two years?",
            "how is the EMN budget for 2026-2027 split between the two years?",
        ),
    ],
)
def test_rewrite_rules(previous: str, follow_up: str, expected: str) -> None:
    history = [Turn(role="user", content=previous), Turn(role="assistant", content="An answer.")]
    assert rewrite_followup(follow_up, history) == expected


def test_rewrite_keeps_the_subject_of_a_pronoun_follow_up() -> None:
    history = [Turn(role="user", content="What does the strategy say about the Talent Pool?")]
    rewritten = rewrite_followup("When will it be operational?", history)
    assert "Talent Pool" in rewritten and "operational" in rewritten
