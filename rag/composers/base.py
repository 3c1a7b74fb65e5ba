"""The composer interface: numbered passages in, draft text with [n] markers out.

Markers in a draft refer to the 1-based position of a passage in `ComposeInput.passages`;
verification later maps them to citations and renumbers them in order of appearance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rag.question import classify_question
from rag.retrieval import Candidate, QueryTerms


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
    # A question not in English: the candidates' sentence similarities were computed across
    # languages at retrieval (on the English scale) and are used as they are.
    multilingual: bool = False

    def part(self, sub: SubQuestion) -> ComposeInput:
        """This input narrowed to one part of the question."""
        wants_numbers, wants_list = classify_question(sub.text, self.terms.language)
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
