"""What a question asks for, read from its wording: its parts, whether it wants a figure or a
list, an amount of money or a share, which years or periods it names.

Retrieval, the composers, the follow-up rewrite and the answerability checks all read
questions (and years in answers) through these patterns, so each is written once.
"""

from __future__ import annotations

import re

from rag.lexicon import lexicon

_YEAR = r"(?:19|20)\d{2}"
_DASH = r"\s*[-–]\s*"

YEAR = re.compile(rf"\b{_YEAR}\b")
# "2024-2025", "2024 – 25": a period as one constraint, not two years.
PERIOD = re.compile(rf"\b{_YEAR}{_DASH}(?:19|20)?\d{{2}}\b")
# A year with an optional end ("2026-2027"): what a follow-up ('and for 2027?') swaps.
YEAR_OR_PERIOD = re.compile(rf"\b{_YEAR}(?:{_DASH}(?:19|20)?\d{{2,4}})?\b")

MONEY_QUESTION = re.compile(
    r"(?i)\b(how\s+much|budget\w*|amount|cost\w*|fund(s|ing|ed)?|allocat\w*|euros?|eur|€|"
    r"contribution|envelope|spen[dt]\w*|money|financ\w*|appropriations?)\b"
)
SHARE_QUESTION = re.compile(r"(?i)\b(percent\w*|%|rate|share|proportion|by\s+how\s+much)\b")
# A period or deadline asked for (retrieval prefers passages stating one).
DURATION_QUESTION = re.compile(
    r"(?i)\b(how\s+long|how\s+quickly|how\s+soon|deadlines?|time[-\s]limits?|"
    r"within\s+what\s+(time|period)|how\s+much\s+time|maximum\s+(period|duration))\b"
)
# Narrower than wanting numbers: the answer must hold a counted figure.
QUANTITY_QUESTION = re.compile(
    r"(?i)\b(how\s+(many|much)|number\s+of|amount\s+of|what\s+percentage|what\s+share)\b"
)
COUNTRIES_QUESTION = re.compile(
    r"(?i)\b(which|what)\s+(\w+\s+){0,2}(countries|country|member\s+states|states|nationalities)\b"
)

_LIST_QUESTION = re.compile(
    r"(?i)^\s*(list|name|enumerate|which\s+(countries|states|member|observer|organisations|"
    r"agencies|priorities|bodies|actions|measures|outputs|objectives)|what\s+are\s+the\s+"
    r"(main\s+|key\s+|five\s+|four\s+|three\s+)?(priorities|objectives|outputs|countries|"
    r"actions|measures|pillars|elements|components|types|tasks|activities))\b"
)
_NUMBER_QUESTION = re.compile(
    r"(?i)\b(how\s+(much|many|large|big|high|low)|budget|amount|cost|fund(ing|ed)?|euros?|eur\b|"
    r"€|percent(age)?|%|rate|share|proportion|number\s+of|figure|total|allocat\w*|envelope|"
    r"when|what\s+year|which\s+year|date|increase|decrease|decline|fall|drop|rise)\b"
)
_PART_SPLIT = re.compile(
    r"(?i),?\s+(?:and|but|also)\s+(?=(?:how|what|which|who|when|where|why|whether|is|are|"
    r"does|do|did|has|have|can)\b)|\?\s+(?=\S)"
)


def split_question(question: str) -> list[str]:
    """'How many NCPs are there, and what is the budget?' -> its two questions (a question
    with one part comes back alone)."""
    parts = [p.strip(" ,?") for p in _PART_SPLIT.split(question) if p and p.strip(" ,?")]
    parts = [p for p in parts if len(p.split()) >= 3]
    return parts if len(parts) > 1 else [question]


def classify_question(question: str, language: str = "en") -> tuple[bool, bool]:
    """(wants numbers, wants a list); in another language, also by its words (rag/lexicons)."""
    numbers = bool(_NUMBER_QUESTION.search(question))
    wants_list = bool(_LIST_QUESTION.search(question))
    words = lexicon(language) if language != "en" else None
    if words is not None:
        # Not the lexicons' broad "number" words ("financing" is one in several languages):
        # a sentence without a digit is penalised for a question that wants numbers, and
        # "which agencies ... according to the financing chapter" wants names.
        numbers = numbers or words.matches("count", question)
        numbers = numbers or words.matches("percentage", question)
        wants_list = wants_list or words.matches("list", question)
    return numbers, wants_list
