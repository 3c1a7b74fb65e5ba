"""One inform section drafted from the documents: its own retrieval questions (the topic and
the section's purpose), sentences chosen for the topic and the purpose with every relevant
document given a say, cleaned into the brief's voice (rag/brief_voice.py), then verified as
answers are (rag/verify.py).

Why not `Assistant.ask` with a template question per section: the pipeline's answerability
checks read a template ("What are the main facts, figures and developments on X?") as asking
for a figure, its scope and diversity serve one question rather than a chapter, and its
composer quotes the sentences nearest the template's words. A section is instead composed
here from retrieved passages; what it keeps is only what verification keeps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from index.lexical import tokenize
from index.schema import Filters
from rag.brief_voice import SELF_REFERENCE, STRUCTURE_REF, clean, is_heading
from rag.composers.extractive import display_sentence
from rag.pipeline import Assistant
from rag.retrieval import Candidate, QueryTerms, diversify
from rag.verify import Verified, Verifier

# A sentence is about the topic when its closeness in meaning (English model's cosine) and
# its share of the topic's term weight, with its section's heading, average at least
# TOPIC_RELEVANCE, neither below its floor: a short topic ("EMN budget") is far in meaning
# from a long sentence that names it, and rare terms weigh more ("dental care" is not
# covered by a sentence on asylum seekers).
TOPIC_RELEVANCE = 0.375
TOPIC_SIMILARITY = 0.2
TOPIC_COVERAGE = 0.15
# Sentences are kept down to this share of the section's best score; a document whose best
# sentence reaches DOCUMENT_SHARE of it gets at least one sentence in the section.
RELATIVE_FLOOR = 0.65
DOCUMENT_SHARE = 0.8
PASSAGES_PER_SECTION = 12
PER_DOC_DECAY = 0.7  # passages, as rag.retrieval.diversify weighs them
PER_DOC_PENALTY = 0.04  # a section's further sentence from an already quoted document
_ANAPHORA = re.compile(r"^(This|These|That|Those|It|They|Such|Its|Their)\b")
_URL = re.compile(r"https?://|www\.")


@dataclass(frozen=True)
class SectionPlan:
    """What a section is for: its retrieval questions ({topic} filled in) and the words of
    its purpose a sentence is rewarded for."""

    key: str
    queries: tuple[str, ...]
    cues: re.Pattern[str]
    max_sentences: int = 4
    bullets: bool = False


PLANS: tuple[SectionPlan, ...] = (
    SectionPlan(
        "key_messages",
        (
            "What are the EU's main priorities and key actions on {topic}?",
            "{topic}: the key points and main conclusions",
        ),
        re.compile(
            r"(?i)\b(priorit\w*|key|essential|central|crucial|main|core|objectives?|"
            r"will|must|need\w*)\b"
        ),
        max_sentences=5,
        bullets=True,
    ),
    SectionPlan(
        "background",
        (
            "What is the policy context and the legal basis of {topic}?",
            "Why does {topic} matter for the EU and its Member States?",
            "{topic}: background, framework, role and mandate",
        ),
        re.compile(
            r"(?i)\b(legal\s+basis|regulations?|directives?|decisions?|pact|framework|"
            r"establish\w*|set\s+up|since|context|because|aims?|objectives?|purpose|"
            r"role|mandate|responsib\w*|challenges?)\b"
        ),
    ),
    SectionPlan(
        "main_findings",
        (
            "What are the main facts and figures on {topic}?",
            "What are the recent developments, results and challenges in {topic}?",
        ),
        re.compile(
            r"(?i)(\d|\b(increas\w*|decreas\w*|record|numbers?|shares?|per\s?cent|"
            r"million|billion|EUR|developments?|achiev\w*|results?|progress|trends?|"
            r"so\s+far|to\s+date|remain\w*)\b)"
        ),
    ),
    SectionPlan(
        "policy_implications",
        (
            "What actions and measures are planned on {topic}?",
            "What should the EU and the Member States do next on {topic}?",
            "{topic}: recommendations, next steps and priorities for action",
        ),
        re.compile(
            r"(?i)\b(will|should|must|shall|needs?\s+to|propos\w*|recommend\w*|"
            r"step\s+up|priorit\w*|continue\s+to|calls?\s+on|next\s+steps?|plan\w*|"
            r"intend\w*|commit\w*|work\s+with)\b"
        ),
    ),
)


@dataclass
class Topic:
    """The topic as retrieval sees it: English wording, its vector and weighted terms."""

    subject: str
    vector: np.ndarray
    terms: QueryTerms
    candidates: list[Candidate] = field(default_factory=list)  # retrieved for the topic alone


@dataclass
class Choice:
    passage: Candidate
    position: int  # the sentence's index in the passage
    text: str  # cleaned into the brief's voice
    score: float

    @property
    def key(self) -> tuple[str, int]:
        return (self.passage.id, self.position)


@dataclass
class SectionDraft:
    """A section's verified text (markers local to `passages`) and the sentences it used."""

    verified: Verified
    passages: list[Candidate]
    used: set[tuple[str, int]]


def _tokens(text: str) -> set[str]:
    return set(tokenize(text))


def topic_coverage(terms: QueryTerms, tokens: set[str]) -> float:
    """Share of the topic's term weight in `tokens`; a term of five letters or more also
    counts in its derived forms ('budget' in 'budgetary', stemmed 'budgetari')."""
    total = terms.total
    if not total:
        return 0.0
    found = sum(
        w
        for t, w in terms.weights.items()
        if t in tokens or (len(t) >= 5 and any(tok.startswith(t) for tok in tokens))
    )
    return found / total


def _similar(a: set[str], b: set[str]) -> bool:
    return bool(a and b) and len(a & b) / len(a | b) > 0.6


class SectionComposer:
    """Drafts sections for one index: retrieval through `retrieve`, verification by
    `verifier` (the pipeline's own)."""

    def __init__(self, assistant: Assistant, verifier: Verifier) -> None:
        self.assistant = assistant
        self.verifier = verifier

    def passages(
        self, plan: SectionPlan, topic: Topic, filters: Filters | None
    ) -> tuple[list[Candidate], np.ndarray]:
        """The section's passages (each query retrieves; a passage keeps its best score),
        diversified across documents, and the section queries' vectors."""
        queries = [q.format(topic=topic.subject) for q in plan.queries]
        vectors = self.assistant.embedder.embed_queries(queries)
        retriever = self.assistant.retriever
        index = self.assistant.index
        best = {c.id: c for c in topic.candidates}
        for query, vector in zip(queries, vectors, strict=True):
            for cand in retriever.candidates(query, vector, filters):
                if cand.id not in best or cand.score > best[cand.id].score:
                    best[cand.id] = cand
        clean_ = [c for c in best.values() if c.id not in index.quarantined]
        return diversify(clean_, PASSAGES_PER_SECTION, PER_DOC_DECAY), np.asarray(vectors)

    def candidates(
        self, plan: SectionPlan, topic: Topic, passages: list[Candidate], query_vectors: np.ndarray
    ) -> list[Choice]:
        """Every sentence of the passages that is about the topic and can stand in a brief,
        scored for the topic and the section's purpose."""
        out: list[Choice] = []
        for cand in passages:
            chunk = cand.chunk
            if chunk.block == "table" or not len(cand.sentence_spans):
                continue
            vectors = cand.sentence_vectors
            if vectors.shape[-1] != topic.vector.shape[-1]:
                continue
            topic_sims = vectors @ topic.vector
            purpose_sims = (vectors @ query_vectors.T).max(axis=1)
            header = _tokens(f"{chunk.section_path}")
            title = _tokens(chunk.doc.title)
            for position, (start, end) in enumerate(cand.sentence_spans):
                raw = chunk.text[start:end]
                if len(raw) < 12 or is_heading(raw) or _URL.search(raw):
                    continue
                text = clean(display_sentence(raw))
                if text is None:
                    continue
                tokens = _tokens(text)
                if title and len(tokens & title) / len(tokens | title) > 0.6:
                    continue  # the document's title line
                similarity = float(topic_sims[position])
                coverage = topic_coverage(topic.terms, tokens)
                in_context = topic_coverage(topic.terms, tokens | header)
                relevance = (similarity + in_context) / 2
                if (
                    relevance < TOPIC_RELEVANCE
                    or similarity < TOPIC_SIMILARITY
                    or in_context < TOPIC_COVERAGE
                ):
                    continue
                score = (
                    0.40 * similarity
                    + 0.20 * coverage
                    + 0.05 * in_context
                    + 0.25 * float(purpose_sims[position])
                    + 0.10 * bool(plan.cues.search(text))
                )
                if SELF_REFERENCE.search(text) or STRUCTURE_REF.search(text):
                    score -= 0.10  # leans on the source ("this Communication"): kept as is
                if _ANAPHORA.match(text):
                    score -= 0.05  # "This ..." needs the sentence before it
                words = len(text.split())
                if words > 40:
                    score -= 0.004 * (words - 40)
                out.append(Choice(cand, position, text, score))
        return out

    def select(
        self, plan: SectionPlan, pool: list[Choice], exclude: set[tuple[str, int]]
    ) -> list[Choice]:
        """The section's sentences: first the best of every document that is relevant
        enough, then the best others, near-duplicates and excluded sentences left out."""
        pool = sorted((c for c in pool if c.key not in exclude), key=lambda c: -c.score)
        if not pool:
            return []
        top = pool[0].score
        pool = [c for c in pool if c.score >= top * RELATIVE_FLOOR]
        chosen: list[Choice] = []
        seen: list[set[str]] = []

        def take(choice: Choice) -> None:
            tokens = _tokens(choice.text)
            if len(chosen) < plan.max_sentences and not any(_similar(tokens, s) for s in seen):
                chosen.append(choice)
                seen.append(tokens)

        best_per_doc: dict[str, Choice] = {}
        for choice in pool:
            best_per_doc.setdefault(choice.passage.chunk.doc.doc_id, choice)
        for choice in best_per_doc.values():
            if choice.score >= top * DOCUMENT_SHARE:
                take(choice)
        rest = [c for c in pool if c not in chosen]
        while rest and len(chosen) < plan.max_sentences:
            counts: dict[str, int] = {}
            for c in chosen:
                counts[c.passage.chunk.doc.doc_id] = counts.get(c.passage.chunk.doc.doc_id, 0) + 1
            pick = max(
                rest,
                key=lambda c: c.score - PER_DOC_PENALTY * counts.get(c.passage.chunk.doc.doc_id, 0),
            )
            rest.remove(pick)
            take(pick)
        return sorted(chosen, key=lambda c: -c.score)

    def draft(
        self,
        plan: SectionPlan,
        topic: Topic,
        filters: Filters | None,
        exclude: set[tuple[str, int]],
    ) -> SectionDraft:
        passages, vectors = self.passages(plan, topic, filters)
        chosen = self.select(plan, self.candidates(plan, topic, passages, vectors), exclude)
        cited = list(dict.fromkeys(id(c.passage) for c in chosen))
        by_id = {id(c.passage): c.passage for c in chosen}
        section_passages = [by_id[i] for i in cited]
        bullet = "- " if plan.bullets else ""
        lines = [f"{bullet}{c.text} [{cited.index(id(c.passage)) + 1}]" for c in chosen]
        verified = self.verifier.verify("\n".join(lines), section_passages)
        return SectionDraft(verified, section_passages, {c.key for c in chosen})
