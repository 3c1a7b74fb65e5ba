"""What makes an answer answer its question (rag/answerability.py): the pure checks on the
kind of value a question pins down."""

from __future__ import annotations

from rag.answerability import DATE_QUESTION, PERCENTAGE_QUESTION, gives_full_date, gives_share


def test_a_percentage_question_needs_a_share() -> None:
    assert PERCENTAGE_QUESTION.search("What percentage of a National Contact Point's costs?")
    assert PERCENTAGE_QUESTION.search("What share of the budget goes to the service provider?")
    assert not PERCENTAGE_QUESTION.search("How did irregular arrivals change last year?")
    assert gives_share("The grant covers 95 % of the eligible costs.")
    assert gives_share("Up to half of the costs are covered.")
    assert not gives_share("5. The National Contact Points shall carry out the tasks.")


def test_a_date_question_needs_a_day_or_month_not_a_bare_year() -> None:
    assert DATE_QUESTION.search("Until what date has temporary protection been extended?")
    assert DATE_QUESTION.search("By what date must the Member States transpose it?")
    assert not DATE_QUESTION.search("By when must applicants have access to the labour market?")
    assert not DATE_QUESTION.search("In which year was the EMN set up?")
    assert gives_full_date("Temporary protection was extended until 4 March 2027.")
    assert gives_full_date("It applies from June 2026.")
    assert gives_full_date("It applies from 12.06.2026.")
    assert gives_full_date("Access no later than six months from the date of registration.")
    assert not gives_full_date("The Temporary Protection Directive of 2001 was activated.")
