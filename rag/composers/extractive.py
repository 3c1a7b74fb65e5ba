"""The default composer: no generative model. It picks the sentences of the top passages that
answer the question (sentence vectors were computed at ingest, so this is a few dot products),
keeps the key figures, merges near-duplicates, orders them and cites each one.

Every sentence it outputs is verbatim from a passage, so the answer can be no more wrong than
the passages it quotes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from index.lexical import tokenize
from rag.asked_for import answers_kinds, asked_for
from rag.composers.base import ComposeInput, Draft
from rag.reference_line import is_reference_line
from rag.sentence_ranker import SentenceRanker

_FOOTNOTE_PREFIX = re.compile(r"^Footnote \((\w+)\):\s*")
_BULLET = re.compile(r"^\s*[-•*]\s+")
_DIGIT = re.compile(r"\d")
ABSORB_SHARE = 1.0  # chosen on the dev sets
# A paragraph's or point's own number opening a sentence ("5. The ...", "(b) where ...").
_ENUMERATED = re.compile(r"^\s*(\(?\d{1,3}[.)]|\(?[a-z]{1,4}\))\s")
# A sentence that spells out the one before it: "At EU level, NCPs cooperate with all other EU
# agencies." + "These are, for example, EUROSTAT, ..., Frontex."
_CONTINUES = re.compile(
    r"^(These|Those|They|Such\s+\w+)\s+(are|were|include|included|comprise|cover|consist)\b|"
    r"^(For example|For instance|In particular|Namely|This includes)\b"
)
# A line that continues a list announced by the sentence before it ("as follows:").
_LIST_ITEM = re.compile(r"^\s*([-•*]\s+|\(?[a-z]{1,4}\)\s+|\(?\d{1,2}[.)]\s+|[ivx]{1,4}\)\s+)")


@dataclass
class _Sentence:
    passage: int  # 0-based index into ComposeInput.passages
    position: int
    text: str
    vector: np.ndarray
    score: float
    items: list[str] = field(default_factory=list)  # the list this sentence announces
    features: dict[str, float] = field(default_factory=dict)  # what the score was made of
    follow: str = ""  # the next sentence, when it spells this one out ("These are, ...")


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


_URL = re.compile(r"<?https?://\S+>?|www\.\S+")


def _is_statement(text: str) -> bool:
    """A sentence worth quoting: starts like a sentence, is not a bare link or reference."""
    if not (text[0].isupper() or text[0].isdigit() or text[0] in "(\"'‘“"):
        return False
    if _URL.search(text):
        return False  # a bibliographic reference (footnotes cite their sources with links)
    return len(text.split()) >= 4


def _table_header(chunk_text: str) -> str:
    return next((line for line in chunk_text.split("\n") if "|" in line), "")


@dataclass(frozen=True)
class SentenceWeights:
    """How a sentence is scored against the question. Chosen by k-fold cross-validation on
    the dev set (`python -m evals tune`), never on the blind sets."""

    similarity: float = 0.5  # cosine of sentence and question vectors
    coverage: float = 0.25  # share of the question's term weight in the sentence
    density: float = 0.15  # matched terms per word
    rank: float = 0.05  # the passage's retrieval rank
    figures: float = 0.15  # figures of the question's kind (money, years)
    asked: float = 0.15  # holds a value of the kind asked for, not already in the question
    not_asked: float = 0.05  # penalty: the question asks for a kind of value it lacks
    no_digit: float = 0.1  # penalty: a question wanting numbers, a sentence without any
    title: float = 0.3  # penalty: the document's own title line
    reference: float = 0.3  # penalty: only a document's name (a footnote), unless one is asked
    superseded: float = 0.15  # penalty: a superseded document (its replacement speaks first)
    unverified: float = 0.25  # penalty: no catalog entry (a catalogued source speaks first)
    length: float = 0.04  # penalty: per ten words beyond 35

    def score(self, f: dict[str, float]) -> float:
        """The hand-weighted score of a sentence's features (catalog penalties apart)."""
        return (
            self.similarity * f["similarity"]
            + self.coverage * f["coverage"]
            + self.density * f["density"]
            + self.rank * f["rank"]
            + self.figures * f["figures"]
            - self.no_digit * f["no_digit"]
            + self.asked * f["asked"]
            - self.not_asked * f["not_asked"]
            - self.title * f["title"]
            - self.reference * f["reference"]
            - self.length * f["length"]
        )


class ExtractiveComposer:
    name = "extractive"
    model = "none"

    def __init__(self, max_sentences: int = 4, max_list_sentences: int = 6,
                 relative_floor: float = 0.6, max_passages: int = 5,
                 novelty: float = 0.15, weights: SentenceWeights | None = None,
                 lead_with_best: bool = True, max_items: int = 8,
                 ranker: SentenceRanker | None = None) -> None:  # fmt: skip
        self.novelty = novelty
        self.max_sentences = max_sentences
        self.max_list_sentences = max_list_sentences
        self.relative_floor = relative_floor
        self.max_passages = max_passages
        self.weights = weights or SentenceWeights()
        self.lead_with_best = lead_with_best
        self.max_items = max_items
        # Learned sentence scores (rag/sentence_ranker.py) in place of the hand weights.
        self.ranker = ranker

    def candidates(self, data: ComposeInput) -> list[_Sentence]:
        """Every sentence of the top passages, scored against the question."""
        out: list[_Sentence] = []
        kinds = asked_for(data.question, data.terms.language)
        # "Which regulation ...?" is answered by an act's name; other questions are not.
        act_asked = "legal" in kinds
        date_asked = "date" in kinds
        passages = data.passages[: self.max_passages]
        for p_index, cand in enumerate(passages):
            chunk = cand.chunk
            sims = (
                cand.sentence_vectors @ data.query_vector
                if len(cand.sentence_spans)
                and not data.multilingual
                and data.query_vector.shape[-1] == cand.sentence_vectors.shape[-1]
                else cand.sentence_sims
            )
            spans = cand.sentence_spans
            header = _table_header(chunk.text) if chunk.block == "table" else ""
            rank = 1.0 - p_index / max(len(passages), 1)
            section = data.terms.coverage(set(tokenize(chunk.section_path)))
            for position, (start, end) in enumerate(spans):
                raw = chunk.text[start:end]
                if len(raw) < 12:
                    continue
                text = display_sentence(raw, header)
                if not text or text == display_sentence(header) or not _is_statement(text):
                    continue
                words = len(text.split())
                figures = data.terms.figure_match(raw)
                if words < 5 and not figures:
                    continue  # title-page lines, labels: not an answer
                items = (
                    self._announced_items(chunk.text, spans, position, header)
                    if text.endswith(":")
                    else []
                )
                sentence_tokens = cand.sentence_terms(position)
                coverage = data.terms.coverage(set(sentence_tokens))
                fit = answers_kinds(kinds, text, data.question) if kinds else 0.0
                features = {
                    "similarity": float(sims[position]) if position < len(sims) else 0.0,
                    "coverage": coverage,
                    # Matched terms per word: a short sentence that names the asked-for
                    # things beats a long one that mentions everything.
                    "density": min(1.0, 4.0 * coverage / max(len(sentence_tokens), 4) ** 0.5),
                    "rank": rank,
                    "passage_score": float(cand.score),
                    "figures": figures,
                    "no_digit": float(
                        data.wants_numbers and not _DIGIT.search(_FOOTNOTE_PREFIX.sub("", raw))
                    ),
                    "asked": fit,
                    "not_asked": float(bool(kinds) and fit == 0),
                    "title": float(_is_title(text, chunk.doc.title)),
                    # (An act's date is in its name: a name that holds the date asked
                    # for does answer. Its numbers, 'Article 8', '2024/1351', count nothing.)
                    "reference": float(
                        not act_asked and not (date_asked and fit > 0) and is_reference_line(text)
                    ),
                    "length": max(0, words - 35) / 10,
                    "words": min(words, 80) / 40,
                    "position": min(position, 20) / 10,
                    "first": float(position == 0),
                    "lead_in": float(text.endswith(":")),
                    "items": min(len(items), 8) / 4,
                    "enumerated": float(_ENUMERATED.match(text) is not None),
                    "section": section,
                    "recital": float("recital" in chunk.section_path.lower()),
                }
                score = self.weights.score(features)
                if self.ranker is not None and not self.ranker.lead_only:
                    score = self.ranker.blended(features, score)
                # Catalog policy, not learned: a replacement or a catalogued source speaks
                # first.
                if chunk.doc.superseded:
                    score -= self.weights.superseded
                if chunk.doc.unverified:
                    score -= self.weights.unverified
                vector = cand.sentence_vectors[position]
                sentence = _Sentence(p_index, position, text, vector, score, items, features)
                if not items and position + 1 < len(spans):
                    start, end = spans[position + 1]
                    follow = display_sentence(chunk.text[start:end], header)
                    if _CONTINUES.match(follow):
                        sentence.follow = follow
                out.append(sentence)
        folded = _fold_items(out, ABSORB_SHARE)
        return [s for s in out if id(s) not in folded]

    def _announced_items(self, text: str, spans: list[tuple[int, int]], position: int,
                         header: str) -> list[str]:  # fmt: skip
        """The list a sentence ending in a colon announces: the lines that follow it."""
        items: list[str] = []
        for start, end in spans[position + 1 :]:
            raw = text[start:end]
            at_line_start = start == 0 or text[start - 1] == "\n"
            if not at_line_start or not _LIST_ITEM.match(raw) or len(items) >= self.max_items:
                break  # the list has ended (or never started)
            item = display_sentence(raw, header)
            if len(item) >= 3:
                items.append(item)
        return items

    def select(self, data: ComposeInput) -> list[tuple[_Sentence, list[int]]]:
        """Chosen sentences with the passages that support each (near-duplicates merged).

        Greedy: each step takes the sentence with the best score plus a bonus for question
        terms not yet covered, so a two-part question gets both parts answered.
        """
        pool = sorted(self.candidates(data), key=lambda s: s.score, reverse=True)
        if not pool:
            return []
        limit = self.max_list_sentences if data.wants_list else self.max_sentences
        floor = pool[0].score * self.relative_floor
        pool = [s for s in pool if s.score >= floor]
        tokens = {id(s): set(tokenize(s.text)) for s in pool}
        covered: set[str] = set()
        chosen: list[tuple[_Sentence, list[int]]] = []
        while pool and len(chosen) < limit:
            best = max(pool, key=lambda s: s.score + self.novelty * _gain(data, tokens[id(s)],
                                                                             covered))  # fmt: skip
            pool.remove(best)
            duplicate = next((c for c in chosen if _near_duplicate(c[0], best)), None)
            if duplicate is not None:
                if best.passage not in duplicate[1]:
                    duplicate[1].append(best.passage)
                continue
            chosen.append((best, [best.passage]))
            covered |= tokens[id(best)]
        return self._order(chosen)

    def _order(self, chosen: list[tuple[_Sentence, list[int]]]
               ) -> list[tuple[_Sentence, list[int]]]:  # fmt: skip
        """The best sentence first (it holds the answer), the others in document order so
        that they read as the source does. An item chosen with the sentence announcing it is
        shown in that sentence's list, which takes the item's place (`_fold_items`)."""
        folded = _fold_items([s for s, _ in chosen], 0.0)
        chosen = [c for c in chosen if id(c[0]) not in folded]
        ordered = sorted(chosen, key=lambda c: (c[0].passage, c[0].position))
        if not self.lead_with_best or len(ordered) < 2:
            return ordered
        ranker = self.ranker
        if ranker is not None and ranker.lead_only:
            lead = max(ordered, key=lambda c: ranker.score(c[0].features))
        else:
            lead = max(ordered, key=lambda c: c[0].score)
        return [lead] + [c for c in ordered if c is not lead]

    def compose(self, data: ComposeInput) -> Draft:
        chosen = self.select_parts(data) if len(data.parts) > 1 else self.select(data)
        if not chosen:
            return Draft(text="", notes=["no sentence of the retrieved passages matched"])
        parts = []
        quoted = {s.text for s, _ in chosen}
        listed = False
        for sentence, passages in chosen:
            markers = "".join(f"[{p + 1}]" for p in sorted(passages))
            parts.append(f"{sentence.text} {markers}")
            if sentence.follow and sentence.follow not in quoted:
                # A sentence brings the one that spells it out, as a lead-in brings its list.
                parts.append(f"{sentence.follow} [{sentence.passage + 1}]")
                quoted.add(sentence.follow)
            items = [i for i in sentence.items if i not in quoted]
            if items:
                # A sentence that announces a list brings the list (each item cited).
                listed = True
                parts.extend(f"- {item} [{sentence.passage + 1}]" for item in items)
                quoted.update(items)
        if data.wants_list and len(parts) >= 3 and not listed:
            return Draft(text="\n".join(f"- {p}" for p in parts))
        # One sentence per line: a quoted sentence may start in lower case or hold
        # abbreviations, and must never be merged with its neighbour during verification.
        return Draft(text="\n".join(parts))

    def select_parts(self, data: ComposeInput) -> list[tuple[_Sentence, list[int]]]:
        """A multi-part question: the best sentences for each part, merged in document
        order, so the second half of the question is not crowded out by the first."""
        per_part = max(2, self.max_sentences // len(data.parts) + 1)
        merged: list[tuple[_Sentence, list[int]]] = []
        for sub in data.parts:
            for sentence, passages in self.select(data.part(sub))[:per_part]:
                same = next(
                    (m for m in merged if (m[0].passage, m[0].position)
                     == (sentence.passage, sentence.position)),
                    None,
                )  # fmt: skip
                if same is None:
                    merged.append((sentence, passages))
        return self._order(merged)

    def stream(self, data: ComposeInput) -> Iterator[str]:
        draft = self.compose(data)
        yield from re.split(r"(?<=\])(?=\s)", draft.text)


def _fold_items(sentences: list[_Sentence], share: float) -> set[int]:
    """Fold list items into the sentence announcing them (same passage), when that sentence
    scores at least `share` of the item on its own: it takes the item's score and will show
    the item in its list. Returns the ids of the folded items.

    Before selection (share ABSORB_SHARE), "(a) EUR 25 450 000 for 2026;" alone does not say
    what the amount is; an item much better than its lead-in answers on its own. After
    selection (share 0), an item chosen beside its lead-in is shown in the lead-in's list,
    which takes the item's place."""
    lead_ins = {(s.passage, item): s for s in sentences for item in s.items}
    own = {id(s): s.score for s in sentences}
    folded: set[int] = set()
    for sentence in sentences:
        lead_in = lead_ins.get((sentence.passage, sentence.text))
        if lead_in is None or lead_in is sentence:
            continue
        if own[id(lead_in)] >= share * sentence.score:
            lead_in.score = max(lead_in.score, sentence.score)
            folded.add(id(sentence))
    return folded


def _is_title(text: str, title: str) -> bool:
    """The document's title line quoted as if it were an answer."""
    a, b = set(tokenize(text)), _title_terms(title)
    return bool(a and b) and len(a & b) / len(a | b) > 0.6


@lru_cache(maxsize=4096)
def _title_terms(title: str) -> frozenset[str]:
    """A document title's terms, once per title rather than once per candidate sentence."""
    return frozenset(tokenize(title))


def _gain(data: ComposeInput, sentence_tokens: set[str], covered: set[str]) -> float:
    """Share of the question's term weight this sentence adds to what is covered."""
    weights = data.terms.weights
    total = sum(weights.values()) or 1.0
    return sum(w for t, w in weights.items() if t in sentence_tokens and t not in covered) / total


def _near_duplicate(a: _Sentence, b: _Sentence) -> bool:
    same_shape = a.vector.shape == b.vector.shape and a.vector.size > 1
    if same_shape and float(a.vector @ b.vector) > 0.92:
        return True
    ta, tb = set(tokenize(a.text)), set(tokenize(b.text))
    if not ta or not tb:
        return False
    return len(ta & tb) / len(ta | tb) > 0.8
