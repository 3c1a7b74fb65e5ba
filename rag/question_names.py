"""What a question pins its asked-for value to: the names it gives ("the European
Reintegration Network (ERIN)", "the Western Balkans route", "Egypt") and the thing a 'how
many' question counts ("staff"). A figure, share or date answers the question only beside
them: the overall fall of crossings does not answer "by what percentage have crossings on the
Western Balkans route fallen?" (rag/answerability.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.lexical import tokenize
from rag.asked_for import MONTHS

# Capitalised words that name nothing in particular here: the network, the Union and its
# institutions, months, and abbreviations the documents spell out ("WP", "MS").
_GENERIC_NAMES = frozenset(
    {
        *("eu", "emn", "european", "union", "commission", "council", "parliament"),
        *("member", "states", "state", "network", "migration", "national", "contact"),
        *("point", "points", "ncp", "ncps", "eur", "wp", "ms"),
        *MONTHS.split("|"),
    }
)
_CAPITALISED = re.compile(r"(?<![\w'-])([A-Z][\w'’-]*)")
# Where a new sentence starts inside a question ("... next week. Can you ..."), a capital
# names nothing.
_SENTENCE_START = re.compile(r"(^|[.?!:;\"'‘“]\s*|\s-\s+)$")
# Lower-case words inside one name ("Global Alliance to Counter Migrant Smuggling").
_NAME_JOINERS = frozenset({"of", "the", "for", "to", "and", "on"})

# What "how many" counts ends at the verb or preposition that follows it.
_COUNTED = re.compile(
    r"(?i)\bhow\s+many\s+((?:[\w'-]+\s+){0,3}?)(?=(do|does|did|has|have|had|is|are|was|were|"
    r"will|can|could|would|should|of|in|on|for|to|from|under|across|at|per|with|by|belong\w*|"
    r"work\w*|live\w*)\b|[?,.]|$)"
)
# Counted things too general to pin a figure to (as stems).
_GENERIC_COUNTED = frozenset({"peopl", "person", "time", "member", "state"})
# Two words share a root when they share this many initial letters ("Ukrainians", "Ukraine").
ROOT_LETTERS = 5


@dataclass(frozen=True)
class Name:
    text: str  # as the question writes it
    tokens: frozenset[str]  # one of them is enough to recognise the name


def question_names(question: str) -> list[Name]:
    """The names a question pins its value to: 'How much does the European Reintegration
    Network (ERIN) receive?' -> 'Reintegration Network' {reintegr}, 'ERIN' {erin}."""
    names: list[Name] = []
    span: list[int] = []  # where the current name starts and ends in the question
    tokens: set[str] = set()

    def close() -> None:
        if tokens:
            names.append(Name(question[span[0] : span[1]], frozenset(tokens)))
        span.clear()
        tokens.clear()

    for m in _CAPITALISED.finditer(question):
        word = re.sub(r"['’]s$", "", m.group(1))
        if _SENTENCE_START.search(question[: m.start()]) or len(word) < 2:
            continue
        gap = question[span[1] : m.start()].strip().lower() if span else None
        if not (gap == "" or gap in _NAME_JOINERS):
            close()
        span[:] = [span[0] if span else m.start(), m.start() + len(word)]
        if word.split("-")[0].lower() not in _GENERIC_NAMES:  # not "EU-wide", "EMN"
            tokens.update(t for t in tokenize(word) if t not in _GENERIC_NAMES)
    close()
    return names


def counted_noun(question: str) -> frozenset[str]:
    """The tokens of what a 'how many' question counts ('How many staff work...' -> {staff});
    empty when it counts something general (people, times, Member States)."""
    m = _COUNTED.search(question)
    if not m:
        return frozenset()
    tokens = {t for t in tokenize(m.group(1)) if not t[0].isdigit()}
    return frozenset() if not tokens or tokens & _GENERIC_COUNTED else frozenset(tokens)


def recognised(name: frozenset[str], tokens: set[str]) -> bool:
    """One of the name's tokens stands among `tokens`, or a word of the same root."""
    roots = {t[:ROOT_LETTERS] for t in tokens if len(t) >= ROOT_LETTERS}
    return any(t in tokens or (len(t) >= ROOT_LETTERS and t[:ROOT_LETTERS] in roots) for t in name)
