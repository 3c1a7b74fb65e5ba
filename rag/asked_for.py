"""What a question asks for (an amount, a date, a duration, an organisation...), and whether a
sentence holds such a value that the question does not already contain.

A sentence that repeats the question's own words ("the EMN work programme 2026-2027") is not
an answer; one that adds "EUR 28 200 000" to them is. The extractive composer prefers the
second kind, so the first sentence of an answer holds the asked-for fact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from rag.countries import countries_in
from rag.lexicon import lexicon

MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_WORD_NUMBERS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|eighteen|twenty|"
    "thirty|forty|fifty|sixty|ninety"
)

# --- what the question asks for -----------------------------------------------------------
_ASKS: dict[str, re.Pattern[str]] = {
    "amount": re.compile(
        r"(?i)\b(how\s+much(?!\s+(time|longer|later|earlier|sooner)\b)(\s+money)?|budget\w*|fund(s|ing|ed)?|financ\w*|cost\w*|eur\b|euros?|"
        r"€|envelope|contribution|allocat\w*|money|spend\w*|paid|pay)\b"
    ),
    "percentage": re.compile(
        r"(?i)(\b(percent(age)?|per\s+cent|share|proportion|rate|by\s+how\s+much|drop(ped)?|"
        r"fall|fell|declin\w*|decreas\w*|increas\w*|ris(e|en)|rose|what\s+happened\s+to|"
        r"trends?|evolv\w*)\b|%)"
    ),
    "date": re.compile(
        r"(?i)\b(when|what\s+date|which\s+date|what\s+year|which\s+year|by\s+when|since\s+when|"
        r"dated?|adopted|start\s+to\s+apply|enter(s|ed)?\s+into\s+(force|application))\b"
    ),
    "duration": re.compile(
        r"(?i)\b(how\s+long|how\s+quickly|how\s+fast|how\s+soon|how\s+often|duration|deadline|"
        r"within\s+what\s+(time|period)|how\s+much\s+(time|longer)|"
        r"time[-\s]limits?|within\s+how|maximum\s+(period|length|time)|period|days?|weeks?|"
        r"months?|frequency|extend\w*|extension)\b"
    ),
    "count": re.compile(r"(?i)\b(how\s+many|number\s+of|count)\b"),
    "organisation": re.compile(
        r"(?i)\b(who|whom|which\s+(body|bodies|agency|agencies|organi[sz]ations?|authorit\w+|"
        r"institutions?|committee|provider|company|directorate|service|entity|entities)|"
        r"service\s+provider|responsible)\b"
    ),
    # A person as such ("who chairs?" is often answered by a body: an organisation question).
    "person": re.compile(
        r"(?i)\b(by\s+name|the\s+name\s+of|who\s+is\s+the\s+current|who\s+(has|had)\s+been\s+"
        r"appointed|who\s+was\s+appointed)\b"
    ),
    "country": re.compile(
        r"(?i)\b((which|what)\s+(\w+\s+){0,2}(countries|country|member\s+states|states|"
        r"nationalit\w+)|where)\b"
    ),
    "legal": re.compile(
        r"(?i)\b((which|what)\s+(\w+\s+){0,2}(regulation|directive|decision|act|article|"
        r"instrument|legal\s+basis|provision|recital)|legal\s+basis|under\s+which)\b"
    ),
    "definition": re.compile(
        r"(?i)(^\s*(what\s+(is|are)\s+(an?\s+|the\s+)?[\w\s'-]{2,60}\??\s*$)|\b(what\s+does\s+.+"
        r"\s+mean|define|definition|meaning\s+of|what\s+counts\s+as|who\s+(is|are)\s+"
        r"considered|refers?\s+to)\b)"
    ),
    "reason": re.compile(r"(?i)\b(why|reasons?|purpose|aim(s|ed)?|rationale)\b"),
}


def asked_for(question: str, language: str = "en") -> frozenset[str]:
    """The kinds of value the question asks for (empty: a general question); a question in
    another language is also read with that language's words (rag/lexicons)."""
    kinds = {kind for kind, pattern in _ASKS.items() if pattern.search(question)}
    words = lexicon(language) if language != "en" else None
    if words is not None:
        kinds |= words.asked(question) & _ASKS.keys()
    return frozenset(kinds)


# --- values a sentence holds ---------------------------------------------------------------
_VALUES: dict[str, re.Pattern[str]] = {
    "amount": re.compile(
        r"(?i)((eur|€|euro)\s?\d(?:[\d\s.,]*\d)?(\s?(million|billion|bn|m)\b)?|"
        r"\d(?:[\d\s.,]*\d)?\s?(million|billion)?\s?(eur\b|euros?))"
    ),
    "percentage": re.compile(r"(?i)\d+(?:[.,]\d+)?\s?(%|per\s?cent\b|percent\b)"),
    "date": re.compile(
        rf"(?i)\b(\d{{1,2}}\s+({MONTHS})(\s+\d{{4}})?|({MONTHS})\s+\d{{4}}|"
        r"\d{1,2}\.\d{1,2}\.\d{4}|(19|20)\d{2})\b"
    ),
    # ("the age of 18 years", "14 years old" are ages, not durations)
    "duration": re.compile(
        rf"(?i)(?<!age\sof\s)\b(\d+|{_WORD_NUMBERS})(\s|-)(working\s+|calendar\s+)?(days?|"
        r"weeks?|months?|years?|hours?)\b(?!\s+(of\s+age|old))|\b(annual(ly)?|quarterly|monthly|weekly|yearly|every\s+\w+\s+"
        r"(years?|months?))\b"
    ),
    "count": re.compile(
        rf"(?i)\b(\d[\d\s,.]*\d|\d|{_WORD_NUMBERS}|hundred|thousand|million|billion)\b"
    ),
    "organisation": re.compile(
        r"\b(Commission|Council|Parliament|Agency|Agencies|EUAA|Frontex|eu-LISA|Europol|"
        r"Eurojust|FRA|Eurostat|NCPs?|National\s+Contact\s+Points?|Steering\s+Board|"
        r"[A-Z][A-Za-z]+\s+(Office|Authority|Network|Board|Committee|Group|Directorate)|"
        r"DG\s+[A-Z]+|[A-Z]{3,})\b"
    ),
    # A person's name as EU documents write it: "Ms Martine DEPREZ", "Commissioner Brunner",
    # "Magnus BRUNNER".
    "person": re.compile(
        r"\b(Mr|Ms|Mrs|Dr|Commissioner|President|Director|Vice-President)\.?\s+[A-Z][\w'-]+|"
        r"\b(?!(The|This|That|These|Those|For|And|Of|In|On|By|To|At|With|From|Each|All|An?|Our|"
        r"Its|Their|European|Union|National|Member|Council|Commission|Global|Annual)\b)"
        r"[A-Z][a-zà-ÿ]+\s+[A-Z]{3,}\b(?!\s*\()"
    ),
    "legal": re.compile(
        r"(?i)\b(article\s+\d+|regulation\s+\((eu|ec)\)|directive\s+(\((eu|ec)\)\s+)?\d|"
        r"decision\s+(\((eu|ec)\)\s+)?\d|no\s+\d+/\d+|\d{4}/\d+(/\w+)?)"
    ),
    "definition": re.compile(
        r"(?i)\b(means|is\s+defined\s+as|refers?\s+to|shall\s+mean|is\s+an?|are\s+the|"
        r"consists?\s+of|denotes)\b"
    ),
    "reason": re.compile(
        r"(?i)\b(because|in\s+order\s+to|aims?\s+(to|at)|with\s+a\s+view\s+to|so\s+that|"
        r"to\s+ensure|purpose|due\s+to|given\s+that|as\s+a\s+result)\b"
    ),
}
# Values that never count as an answer on their own: markers, list letters, footnote numbers.
_NOISE = re.compile(r"\[\d+\]|\(\w{1,3}\)")


def _normal(text: str) -> str:
    return re.sub(r"[\s,.\u00a0]+", "", text.lower())


def holds_value(kind: str, text: str) -> bool:
    """Whether `text` holds any value of `kind` ("percentage": "26%", "12 per cent"...)."""
    pattern = _VALUES.get(kind)
    return pattern is not None and pattern.search(text) is not None


def without_values(kind: str, text: str) -> str:
    """`text` with its values of `kind` blanked ("a decreasing trend (-21%)" without its
    percentage holds no figure)."""
    pattern = _VALUES.get(kind)
    return text if pattern is None else pattern.sub(" ", text)


@lru_cache(maxsize=65536)
def values_in(kind: str, text: str) -> tuple[str, ...]:
    """Every value of `kind` in `text`. Cached: retrieval asks it of the same passages for
    every duration question, and the patterns cost about 0.2 ms per passage."""
    pattern = _VALUES.get(kind)
    if pattern is None:
        return ()
    return tuple(m.group(0).strip() for m in pattern.finditer(_NOISE.sub(" ", text)))


def new_values(kind: str, sentence: str, question: str) -> list[str]:
    """Values of `kind` in the sentence that the question does not already contain."""
    if kind == "country":
        asked = set(countries_in(question))
        return [c for c in countries_in(sentence) if c not in asked]
    if kind not in _VALUES:
        return []
    found = list(values_in(kind, sentence))
    if kind in ("definition", "reason"):
        return found
    in_question = _normal(question)
    return [v for v in found if v and _normal(v) not in in_question]


def answers_kinds(kinds: Iterable[str], sentence: str, question: str) -> float:
    """Share of the asked-for kinds (0..1) for which the sentence holds a new value."""
    kinds = list(kinds)
    if not kinds:
        return 0.0
    hits = sum(1 for kind in kinds if new_values(kind, sentence, question))
    return hits / len(kinds)
