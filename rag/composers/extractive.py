"""The default composer: no generative model. It picks the sentences of the top passages that
answer the question (sentence vectors were computed at ingest, so this is a few dot products),
keeps the key figures, merges near-duplicates, orders them and cites each one.

Every sentence it outputs is verbatim from a passage, so the answer can be no more wrong than
the passages it quotes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from common.lexical import tokenize
from rag.composers.base import ComposeInput, Draft
from rag.guards import passage_is_suspicious

_FOOTNOTE_PREFIX = re.compile(r"^Footnote \((\w+)\):\s*")
_BULLET = re.compile(r"^\s*[-•*]\s+")
_DIGIT = re.compile(r"\d")


@dataclass
class _Sentence:
    passage: int  # 0-based index into ComposeInput.passages
    position: int
    text: str
    vector: np.ndarray
    score: float


def display_sentence(raw: str, table_header: str = "") -> str:
    """Readable form of a stored sentence: no footnote label, no bullet, tables as prose."""
    text = _FOOTNOTE_PREFIX.sub("", raw.strip())
    text = _BULLET.sub("", text)
    if "|" in text:
        cells = [c.strip() for c in text.split("|") if c.strip()]
        text = " ".join(cells)
        if table_header and raw.strip() != table_header:
            header = ", ".join(c.strip() for c in table_header.split("|") if c.strip())
            text = f"{text} ({header})"
    text = re.sub(r"\s+", " ", text).strip()
    if text and text[-1] not in ".!?:;)":
        text += "."
    return text


def _table_header(chunk_text: str) -> str:
    return next((line for line in chunk_text.split("\n") if "|" in line), "")


class ExtractiveComposer:
    name = "extractive"
    model = "none"

    def __init__(self, max_sentences: int = 3, max_list_sentences: int = 6,
                 relative_floor: float = 0.8, max_passages: int = 5) -> None:  # fmt: skip
        self.max_sentences = max_sentences
        self.max_list_sentences = max_list_sentences
        self.relative_floor = relative_floor
        self.max_passages = max_passages

    def candidates(self, data: ComposeInput) -> list[_Sentence]:
        """Every sentence of the top passages, scored against the question."""
        out: list[_Sentence] = []
        passages = data.passages[: self.max_passages]
        for p_index, cand in enumerate(passages):
            chunk = cand.chunk
            sims = cand.sentence_sims
            spans = cand.sentence_spans
            header = _table_header(chunk.text) if chunk.block == "table" else ""
            rank_bonus = 0.05 * (1.0 - p_index / max(len(passages), 1))
            for position, (start, end) in enumerate(spans):
                raw = chunk.text[start:end]
                if len(raw) < 12 or passage_is_suspicious(raw):
                    continue
                text = display_sentence(raw, header)
                if not text or text == display_sentence(header):
                    continue
                cos = float(sims[position]) if position < len(sims) else 0.0
                coverage = data.terms.coverage(set(tokenize(raw)))
                score = 0.55 * cos + 0.35 * coverage + rank_bonus
                figures = data.terms.figure_match(raw)
                score += 0.15 * figures
                if data.wants_numbers and not _DIGIT.search(_FOOTNOTE_PREFIX.sub("", raw)):
                    score -= 0.1
                words = len(text.split())
                if words < 5 and not figures:
                    continue  # title-page lines, labels: not an answer
                if words > 45:
                    score -= 0.002 * (words - 45)
                out.append(
                    _Sentence(p_index, position, text, cand.sentence_vectors[position], score)
                )
        return out

    def select(self, data: ComposeInput) -> list[tuple[_Sentence, list[int]]]:
        """Chosen sentences with the passages that support each (near-duplicates merged)."""
        pool = sorted(self.candidates(data), key=lambda s: s.score, reverse=True)
        if not pool:
            return []
        limit = self.max_list_sentences if data.wants_list else self.max_sentences
        floor = pool[0].score * self.relative_floor
        chosen: list[tuple[_Sentence, list[int]]] = []
        for sentence in pool:
            if len(chosen) >= limit or sentence.score < floor:
                break
            duplicate = next(
                (c for c in chosen if _near_duplicate(c[0], sentence)),
                None,
            )
            if duplicate is not None:
                if sentence.passage not in duplicate[1]:
                    duplicate[1].append(sentence.passage)
                continue
            chosen.append((sentence, [sentence.passage]))
        chosen.sort(key=lambda c: (c[0].passage, c[0].position))
        return chosen

    def compose(self, data: ComposeInput) -> Draft:
        chosen = self.select(data)
        if not chosen:
            return Draft(text="", notes=["no sentence of the retrieved passages matched"])
        parts = []
        for sentence, passages in chosen:
            markers = "".join(f"[{p + 1}]" for p in sorted(passages))
            parts.append(f"{sentence.text} {markers}")
        if data.wants_list and len(parts) >= 3:
            return Draft(text="\n".join(f"- {p}" for p in parts))
        return Draft(text=" ".join(parts))

    def stream(self, data: ComposeInput) -> Iterator[str]:
        draft = self.compose(data)
        yield from re.split(r"(?<=\])(?=\s)", draft.text)


def _near_duplicate(a: _Sentence, b: _Sentence) -> bool:
    same_shape = a.vector.shape == b.vector.shape and a.vector.size > 1
    if same_shape and float(a.vector @ b.vector) > 0.92:
        return True
    ta, tb = set(tokenize(a.text)), set(tokenize(b.text))
    if not ta or not tb:
        return False
    return len(ta & tb) / len(ta | tb) > 0.8
