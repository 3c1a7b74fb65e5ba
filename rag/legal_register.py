"""The words of EU legislation for the words officials ask in.

An official asks for the "deadline", the "EU-wide" figure, how long data are "kept"; the Pact
acts write "time limit", "at Union level", "stored". Keyword search and term coverage only
see the question's own words, so a passage in the legislator's words ranks below passages
that repeat the question's. Each entry maps a question word to the legislator's phrasings;
a passage holding one of them counts as holding the word. Small on purpose: only pairs where
the legislation uses the second wording for the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.lexical import tokenize

# (question wording, the legislation's phrasings)
_REGISTER: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\bdeadlines?\b", ("time limit", "time-limit")),
    (r"\bEU[- ]wide\b", ("Union level", "Union-wide")),
    (r"\bEU\b", ("Union",)),
    (r"\bfingerprint(?:s|ed|ing)?\b|\bfacial images?\b", ("biometric data",)),
    (r"\b(?:kept|keep|retained|retention)\b", ("stored", "storage")),
    (r"\bnaturali[sz](?:ed|ation|e)\b", ("citizenship",)),
    (r"\bappeals?\b", ("remedy",)),
)
_COMPILED = tuple((re.compile(p, re.I), alts) for p, alts in _REGISTER)


@dataclass(frozen=True)
class Register:
    """For each question token the legislation words differently: the token sets any of
    which stands for it in a passage; and the phrases keyword search should also look for."""

    alternatives: dict[str, tuple[frozenset[str], ...]]
    phrases: tuple[str, ...]


def legal_register(question: str) -> Register:
    alternatives: dict[str, tuple[frozenset[str], ...]] = {}
    phrases: list[str] = []
    for pattern, alts in _COMPILED:
        for match in pattern.finditer(question):
            sets = tuple(frozenset(tokenize(alt)) for alt in alts)
            for token in tokenize(match.group(0)):
                alternatives[token] = tuple(dict.fromkeys((*alternatives.get(token, ()), *sets)))
            phrases.extend(a for a in alts if a not in phrases)
    return Register(alternatives, tuple(phrases))
