"""The composer interface: numbered passages in, draft text with [n] markers out.

Markers in a draft refer to the 1-based position of a passage in `ComposeInput.passages`;
verification later maps them to citations and renumbers them in order of appearance.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rag.retrieval import Candidate, QueryTerms

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


@dataclass
class SubQuestion:
    """One part of a multi-part question, with its own vector and terms."""

    text: str
    vector: np.ndarray
    terms: QueryTerms


@dataclass
class ComposeInput:
    question: str
    passages: list[Candidate]
    query_vector: np.ndarray
    terms: QueryTerms
    wants_numbers: bool = False
    wants_list: bool = False
    parts: list[SubQuestion] = field(default_factory=list)

    def part(self, sub: SubQuestion) -> ComposeInput:
        """This input narrowed to one part of the question."""
        wants_numbers, wants_list = classify_question(sub.text)
        return ComposeInput(sub.text, self.passages, sub.vector, sub.terms,
                            wants_numbers, wants_list)  # fmt: skip


@dataclass
class Draft:
    text: str
    notes: list[str] = field(default_factory=list)
    model: str = "none"


class ComposerError(RuntimeError):
    """The composer could not produce a draft (model unreachable, timeout, bad output)."""


class Composer(Protocol):
    name: str
    model: str

    def compose(self, data: ComposeInput) -> Draft: ...

    def stream(self, data: ComposeInput) -> Iterator[str]: ...


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


def classify_question(question: str) -> tuple[bool, bool]:
    """(wants numbers, wants a list)."""
    return bool(_NUMBER_QUESTION.search(question)), bool(_LIST_QUESTION.search(question))
