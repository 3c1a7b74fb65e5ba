"""What a question asks for, and whether a sentence adds such a value (rag/asked_for.py)."""

from __future__ import annotations

import re

import pytest

from rag.asked_for import answers_kinds, asked_for, holds_value, new_values
from rag.countries import countries_in, trie_pattern


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How much money does the EMN get for 2026-2027?", "amount"),
        ("What is the ceiling on EU funding for the EMN work programme?", "amount"),
        ("By how much did irregular crossings drop in 2025?", "percentage"),
        ("When was the Council Decision establishing the EMN adopted?", "date"),
        ("How long can the screening at the border last?", "duration"),
        ("How many national contact points are there?", "count"),
        ("Who is the EMN's service provider?", "organisation"),
        ("Which countries are EMN observers?", "country"),
        ("Under which regulation is the EMN financed?", "legal"),
        ("What is a resettled refugee?", "definition"),
        ("Why is the recognition of qualifications a barrier?", "reason"),
    ],
)
def test_question_kinds(question: str, kind: str) -> None:
    assert kind in asked_for(question)


def test_a_general_question_asks_for_no_particular_value() -> None:
    assert asked_for("Tell me about the EMN's cooperation with third countries") == frozenset()


def test_values_already_in_the_question_do_not_count() -> None:
    sentence = "The maximum Union contribution for 2026-2027 is set at EUR 28 200 000."
    question = "How much is the EMN budget for 2026-2027?"
    assert new_values("amount", sentence, question) == ["EUR 28 200 000"]
    assert new_values("date", sentence, question) == []  # 2026-2027 is the question's own
    title = "Commission Implementing Decision on the financing of the EMN for 2026-2027."
    assert answers_kinds(["amount"], title, question) == 0.0
    assert answers_kinds(["amount"], sentence, question) == 1.0


def test_durations_and_countries() -> None:
    assert new_values("duration", "The screening shall last no more than 7 days.", "How long?")
    found = new_values("country", "Observers are Norway and Georgia.", "Which countries?")
    assert set(found) == {"Norway", "Georgia"}
    assert new_values("country", "Norway takes part.", "Does Norway take part?") == []


def test_an_age_is_not_a_duration() -> None:
    # "need not appoint a representative ... above the age of 18 years" must not pass for the
    # answer to "within what deadline must a representative be appointed?"
    assert not holds_value("duration", "an applicant above the age of 18 years")
    assert not holds_value("duration", "children under 14 years old")
    assert holds_value("duration", "no later than fifteen working days from the application")
    assert holds_value("duration", "for a period of 18 years")


def test_how_much_time_asks_for_a_duration_not_an_amount() -> None:
    within = "If our authorities order detention, within what time must the court review it?"
    assert asked_for(within) == {"duration"}
    assert asked_for("And how much longer can that be in a crisis?") == {"duration"}
    assert asked_for("How much money does the EMN get?") == {"amount"}


def test_a_trie_pattern_matches_what_the_longest_first_alternation_matches() -> None:
    words = ["iran", "iraq", "ira", "niger", "nigeria", "ital", "sri lanka", "côte"]
    trie = re.compile(rf"\b(?:{trie_pattern(words)})", re.IGNORECASE)
    flat = re.compile(
        r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")",
        re.IGNORECASE,
    )
    text = "Nigeria, Niger, IRAQ and Iran, the ira, Italy, Sri Lanka, Côte d'Ivoire, irate"
    assert trie.findall(text) == flat.findall(text)
    assert trie.findall(text)[:2] == ["Nigeria", "Niger"]  # the longer word where both fit
    assert countries_in("Migrants from Iraq, Nigeria and Niger ") == ["Iraq", "Nigeria", "Niger"]
