"""Personal data redaction (run before anything is logged or stored): each kind of personal
data becomes a typed placeholder; policy figures, ranges and references are left alone."""

from __future__ import annotations

import pytest

from rag.redaction import contains_pii, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Contact me at amina.haddad@example.org please", "Contact me at [EMAIL] please"),
        ("Write to AMINA@EXAMPLE.ORG", "Write to [EMAIL]"),
        ("Call me on +32 2 123 45 67 today", "Call me on [PHONE] today"),
        ("my mobile is 0471 12 34 56", "my mobile is [PHONE]"),
        ("or 0049 30 1234567", "or [PHONE]"),
        ("tel. 02 515 40 00", "tel. [PHONE]"),
        ("My IBAN is BE68 5390 0754 7034.", "My IBAN is [IBAN]."),
        ("pay to DE89370400440532013000", "pay to [IBAN]"),
        ("passport number X1234567", "passport number [DOCUMENT_NUMBER]"),
        ("My passport number is P1234567", "My passport number is [DOCUMENT_NUMBER]"),
        ("ID card no. AB123456", "ID card no. [DOCUMENT_NUMBER]"),
        ("residence permit: RP-2024-99812", "residence permit: [DOCUMENT_NUMBER]"),
        ("my case number is 2024/12345", "my case number is [DOCUMENT_NUMBER]"),
        ("I was born on 12/03/1990.", "I was born on [DATE_OF_BIRTH]."),
        ("Date of birth: 1990-03-12", "Date of birth: [DATE_OF_BIRTH]"),
        ("my date of birth is 12.03.1990", "my date of birth is [DATE_OF_BIRTH]"),
        ("born 3 March 1990 in Aleppo", "born [DATE_OF_BIRTH] in Aleppo"),
        ("My name is Amina Haddad and I live in Ghent.", "My name is [NAME] and I live in Ghent."),
        ("I am Jean Dupont, from Lyon", "I am [NAME], from Lyon"),
        ("I'm Olena Kovalenko and I fled in 2022", "I'm [NAME] and I fled in 2022"),
    ],
)
def test_personal_data_is_replaced_by_its_kind(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert contains_pii(text)


def test_several_kinds_in_one_question() -> None:
    text = (
        "My name is Amina Haddad, born on 12/03/1990, passport number X1234567, "
        "email amina@example.org, phone +32 470 12 34 56. Will I be deported?"
    )
    assert redact(text) == (
        "My name is [NAME], born on [DATE_OF_BIRTH], passport number [DOCUMENT_NUMBER], "
        "email [EMAIL], phone [PHONE]. Will I be deported?"
    )


@pytest.mark.parametrize(
    "text",
    [
        "What is the EMN budget? EUR 28 200 000 for 2026-2027",
        "EUR 28,200,000 and EUR 2 750 000 for 2027",
        "the 2026-2027 programme and the 2021-2027 period",
        "COM(2026) 45 final, C(2026) 36 final, Regulation (EU) 2024/1689",
        "budget line 10 02 01; 51.4% in 2024; -21%; + 26% in 2025",
        "Council Decision 2008/381/EC and Regulation (EU) No 516/2014",
        "Article 25a of the Visa Code",
        "On 20 May 2025 the Steering Board endorsed the allocations",
        "I am afraid of being deported",
        "I am Ukrainian and live in Poland",
        "The visa is valid for 90 days",
    ],
)
def test_no_false_positives_on_policy_text(text: str) -> None:
    assert redact(text) == text
    assert not contains_pii(text)
