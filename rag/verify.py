"""Verification, run on every draft whatever the composer: a sentence survives only if it cites
a retrieved passage that supports it, every figure in it occurs in a cited passage, and it does
not contradict the passages that support it (rag/contradiction.py: a flipped negation, an
antonym, another quantifier, number or date). Markers are then renumbered 1..n in order of
appearance, so none dangles."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from common.sentences import split_sentences
from index.lexical import tokenize
from rag.contradiction import Contradiction, find_contradiction
from rag.figures import missing_figures
from rag.retrieval import Candidate

_MARKER_GROUP = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_MARKER = re.compile(r"\[(\d+)\]")
_MARKERS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\d+\])+)")

LEXICAL_SUPPORT = 0.6
LEXICAL_WITH_EMBEDDING = 0.3
EMBEDDING_SUPPORT = 0.6


@dataclass
class Removed:
    sentence: str
    reason: str


@dataclass
class Verified:
    text: str
    cited: list[int] = field(default_factory=list)  # passage indexes (0-based), marker order
    removed: list[Removed] = field(default_factory=list)
    kept: int = 0


def normalise_markers(text: str) -> str:
    """'[1, 2]' -> '[1][2]'; markers after the full stop are moved before it."""
    text = _MARKER_GROUP.sub(
        lambda m: "".join(f"[{n.strip()}]" for n in re.split(r"[,;]", m.group(1))), text
    )
    return _MARKERS_AFTER_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", text)


def split_answer(text: str) -> list[str]:
    """Answer sentences (bullet lines are sentences too), markers attached."""
    out = []
    for line in normalise_markers(text).split("\n"):
        line = line.strip()
        if not line:
            continue
        bullet = line.startswith(("- ", "* ", "• "))
        body = line[2:] if bullet else line
        pieces = [body[a:b] for a, b in split_sentences(body)] or [body]
        out.extend(f"- {p}" if bullet and i == 0 else p for i, p in enumerate(pieces))
    return out


class Verifier:
    def __init__(
        self,
        embed: Callable[[list[str]], np.ndarray] | None = None,
        lexical_floor: float = LEXICAL_WITH_EMBEDDING,
        scale: Callable[[np.ndarray], np.ndarray] | None = None,
        multilingual: bool = False,
    ) -> None:
        """`embed` (optional) scores paraphrased sentences; verbatim ones pass lexically.
        A sentence sharing fewer than `lexical_floor` of its words with the passage is not
        compared by meaning. Across languages (a French sentence, an English passage) the
        words rarely match: there the floor is 0 and `embed` is the multilingual model, whose
        cosines `scale` puts on the English model's scale (`multilingual`: compared with the
        passages' multilingual sentence vectors)."""
        self.embed = embed
        self.lexical_floor = lexical_floor
        self.scale = scale
        self.multilingual = multilingual

    def support(self, sentence: str, passage: Candidate) -> float:
        tokens = set(tokenize(sentence))
        if not tokens:
            return 0.0
        passage_tokens = passage.text_terms()
        lexical = len(tokens & passage_tokens) / len(tokens)
        if lexical >= LEXICAL_SUPPORT:
            return lexical
        if self.embed is None or lexical < self.lexical_floor:
            return lexical
        vector = self.embed([sentence])[0]
        vectors = passage.multilingual_vectors if self.multilingual else passage.sentence_vectors
        if not len(vectors) or vectors.shape[-1] != vector.shape[-1]:
            return lexical
        sims = vectors @ vector
        cosine = float((self.scale(sims) if self.scale else sims).max())
        return lexical if cosine < EMBEDDING_SUPPORT else max(lexical, LEXICAL_SUPPORT)

    @staticmethod
    def contradiction(sentence: str, passage: Candidate) -> Contradiction | None:
        return find_contradiction(sentence, passage.chunk.text, passage.sentence_spans or None)

    def check_sentence(
        self, sentence: str, passages: list[Candidate], order: dict[int, int]
    ) -> tuple[str | None, Removed | None]:
        """One answer sentence: its verified form (markers renumbered through `order`, which
        grows as new passages are cited), or why it was removed."""
        bullet = sentence.startswith("- ")
        body = sentence[2:] if bullet else sentence
        markers = [int(m) for m in _MARKER.findall(body)]
        plain = re.sub(r"\s+([.,;:!?])", r"\1", _MARKER.sub("", body)).strip()
        if not plain or not re.search(r"\w", plain):
            return None, None
        valid = [m - 1 for m in dict.fromkeys(markers) if 1 <= m <= len(passages)]
        if not valid:
            reason = "cites no retrieved passage" if not markers else "dangling citation"
            return None, Removed(plain, reason)
        supporting = [i for i in valid if self.support(plain, passages[i]) >= LEXICAL_SUPPORT]
        if not supporting:
            return None, Removed(plain, "not supported by the cited passages")
        missing = missing_figures(plain, [passages[i].chunk.text for i in supporting])
        if missing:
            return None, Removed(plain, f"figure(s) {', '.join(missing)} not in the cited passages")
        # Similar wording is no agreement: a passage the sentence contradicts supports nothing.
        contradicted = {i: self.contradiction(plain, passages[i]) for i in supporting}
        agreeing = [i for i in supporting if contradicted[i] is None]
        if not agreeing:
            i = supporting[0]
            return None, Removed(plain, contradicted[i].reason(i + 1))  # type: ignore[union-attr]
        supporting = agreeing
        for i in supporting:
            order.setdefault(i, len(order) + 1)
        marks = "".join(f"[{order[i]}]" for i in sorted(supporting, key=order.__getitem__))
        plain = plain.rstrip(" ;,")
        stop = plain[-1] if plain[-1] in ".!?:" else "."
        core = plain[:-1] if plain[-1] in ".!?:" else plain
        return ("- " if bullet else "") + f"{core} {marks}{stop}", None

    def verify(self, draft: str, passages: list[Candidate]) -> Verified:
        checked = SentenceChecks(self, passages)
        for sentence in split_answer(draft):
            checked.check(sentence)
        return checked.verified()


@dataclass
class SentenceChecks:
    """Sentences verified one at a time (as a stream sends them), their markers numbered in
    order of first citation across all of them."""

    verifier: Verifier
    passages: list[Candidate]
    order: dict[int, int] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)

    def check(self, sentence: str, again: bool = True) -> str | None:
        """The sentence's verified form if it is kept; None if it is removed (or empty, or,
        unless `again`, kept already)."""
        text, why = self.verifier.check_sentence(sentence, self.passages, self.order)
        if text and (again or text not in self.kept):
            self.kept.append(text)
            return text
        if why:
            self.removed.append(why)
        return None

    def verified(self) -> Verified:
        return assemble(self.kept, self.removed, self.order)


def assemble(kept: list[str], removed: list[Removed], order: dict[int, int]) -> Verified:
    """Prose sentences joined by spaces; bullet lists one item per line."""
    joiner = "\n" if any(s.startswith("- ") for s in kept) else " "
    return Verified(
        text=joiner.join(kept),
        cited=sorted(order, key=order.__getitem__),
        removed=removed,
        kept=len(kept),
    )
