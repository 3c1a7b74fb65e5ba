"""The answering steps, each a small unit with one job, run in order over one `Context`:

    language -> prefetch -> guard_in -> rewrite -> retrieve -> scope -> rerank -> compose
    -> verify -> guard_out

A step may end the run early (a declined question skips retrieval); `guard_out` runs
whatever happened. A step may also send text as it goes: `compose` streams the model's
verified sentences when the answer is streamed. `rag.pipeline.Assistant` runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from common.embedding import Embedder
from common.language import detect_language
from common.multilingual import MultilingualEmbedder
from common.texts import text
from index.schema import Filters
from rag import guards
from rag.answer import GuardVerdict, Turn, new_trace_id
from rag.answerability import unanswered_constraints
from rag.calibration import calibrated
from rag.composers.base import ComposeInput, Composer, ComposerError, Draft, SubQuestion
from rag.glossary import english_keywords
from rag.question import classify_question, split_question
from rag.retrieval import (
    LEGAL_KINDS,
    Candidate,
    CrossLingual,
    HybridRetriever,
    QueryTerms,
    diversify,
)
from rag.rewrite import rewrite_followup
from rag.semantic_guard import SemanticGuard
from rag.verify import SentenceChecks, Verified, Verifier, split_answer

INDIVIDUAL_INFO_CONFIDENCE = 0.7


@dataclass
class KeywordVectors:
    """A question's English keywords (rag/glossary.py) and their two vectors, being computed
    in other threads: the English model's, and the multilingual model's (None when its
    weight is 0); both None when the glossary recognised nothing."""

    question: str
    english: str
    english_vector: Future[np.ndarray] | None
    keyword_vector: Future[np.ndarray] | None

    @classmethod
    def start(cls, question: str, language: str, embedder: Embedder,
              multilingual: MultilingualEmbedder, keyword_weight: float,
              pool: Executor) -> KeywordVectors:  # fmt: skip
        english = english_keywords(question, language)
        if not english:
            return cls(question, "", None, None)
        keyword_vector = pool.submit(multilingual.embed_query, english) if keyword_weight else None
        return cls(question, english, pool.submit(embedder.embed_query, english), keyword_vector)


@dataclass
class Context:
    question: str
    history: list[Turn]
    filters: Filters | None
    composer: str
    trace_id: str = field(default_factory=new_trace_id)
    language: str = "en"  # of the question (rag.steps.Language); the assistant's texts follow
    multilingual: bool = False  # query and sentence vectors from the multilingual model
    keywords: str = ""  # a question not in English as English keywords (rag/glossary.py)
    prefetched: KeywordVectors | None = None
    query: str = ""
    # The earlier question a follow-up was rewritten from: the scope guard reads it too.
    followup_of: str = ""
    individual_case: bool = False
    uncovered: list[str] = field(default_factory=list)  # asked for, not in the passages
    query_vector: np.ndarray | None = None
    terms: QueryTerms | None = None
    candidates: list[Candidate] = field(default_factory=list)
    parts: list[SubQuestion] = field(default_factory=list)
    passages: list[Candidate] = field(default_factory=list)
    draft: Draft | None = None
    verified: Verified | None = None
    behaviour: Literal["answered", "abstained", "declined"] | None = None
    answer: str = ""
    reason: str = ""
    confidence: float = 0.0  # shown to users: calibrated (rag/calibration.py) once verified
    raw_confidence: float = 0.0  # the evidence score thresholds compare, and calibration fits
    guards: list[GuardVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    fallback: bool = False
    model: str = "none"
    # Set by Assistant.stream with the model: its sentences are sent as they are verified.
    stream_model: bool = False
    done: bool = False

    def finish(self, behaviour: Literal["answered", "abstained", "declined"], answer: str,
               reason: str) -> None:  # fmt: skip
        self.behaviour, self.answer, self.reason, self.done = behaviour, answer, reason, True


class Step:
    name = "step"
    always_runs = False  # also after an earlier step has ended the run

    def run(self, ctx: Context) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def stream(self, ctx: Context) -> Iterator[str]:
        """Run, yielding any text that can be sent before the answer is complete (none
        unless the step overrides this)."""
        self.run(ctx)
        yield from ()


class Language(Step):
    """The question's language: the guards read it with that language's words, a question
    not in English is searched with the multilingual model, and declines, abstentions and
    the disclosure are written in it."""

    name = "language"

    def run(self, ctx: Context) -> None:
        ctx.language = detect_language(ctx.question).language


def cross_lingual(ctx: Context, multilingual: MultilingualEmbedder | None,
                  retriever: HybridRetriever) -> bool:  # fmt: skip
    """The question is searched with the multilingual model (not English, and the model and
    the index's vectors from it are there)."""
    return ctx.language != "en" and multilingual is not None and retriever.index.has_multilingual


class Prefetch(Step):
    """A question not in English takes three query embeddings: the multilingual model's of the
    question (the semantic guard's, then retrieval's), and both models' of its English
    keywords. One after the other they were most of its time (about 35 + 35 + 10 ms of a
    median 92 ms); the keywords' two start here, in other threads, while the guards embed
    the question, and retrieval takes them when the question was not rewritten."""

    name = "prefetch"

    def __init__(self, embedder: Embedder, retriever: HybridRetriever,
                 multilingual: MultilingualEmbedder | None, pool: Executor) -> None:  # fmt: skip
        self.embedder = embedder
        self.retriever = retriever
        self.multilingual = multilingual
        self.pool = pool

    def run(self, ctx: Context) -> None:
        if self.multilingual is None or not cross_lingual(ctx, self.multilingual, self.retriever):
            return
        ctx.prefetched = KeywordVectors.start(
            ctx.question, ctx.language, self.embedder, self.multilingual,
            self.retriever.cross_weights.keywords, self.pool,
        )  # fmt: skip


class GuardIn(Step):
    """Size limits, attacks on the assistant, Art. 5 uses, fabrication, individual cases."""

    name = "guard_in"

    def __init__(self, semantic: SemanticGuard | None = None) -> None:
        self.semantic = semantic

    def run(self, ctx: Context) -> None:
        history_chars = sum(len(t.content) for t in ctx.history)
        result = guards.check_question(ctx.question, history_chars, len(ctx.history), ctx.language)
        ctx.guards.extend(result.verdicts)
        if len(ctx.history) > guards.MAX_HISTORY_TURNS:
            ctx.history = ctx.history[-guards.MAX_HISTORY_TURNS :]
        if not result.blocked:
            # An instruction in an earlier turn is never followed, nor rewritten into the
            # question (rag/guards.check_history).
            result = guards.check_history(ctx.history, ctx.language) or result
            if result.blocked:
                ctx.guards.extend(result.verdicts)
        if result.blocked:
            ctx.confidence = ctx.raw_confidence = 1.0  # sure of the decline
            ctx.finish("declined", result.decline_message, result.decline_reason)
            return
        if result.individual_case:
            ctx.individual_case = True
            return
        if self.semantic is None:
            return
        if ctx.language != "en":
            pre = ctx.prefetched  # the keywords' vector, being computed meanwhile
            keywords = pre.keyword_vector if pre is not None else None
            kind = self.semantic.kind(ctx.question, keywords=keywords)
        elif guards.only_ambiguous_domain(ctx.question):  # English: only the other senses
            kind = self.semantic.kind(ctx.question, ("out_of_scope",))
        else:
            return
        if kind is None:
            return
        detail = "by meaning (rag/semantic_guard.py)"
        guard = "scope" if kind == "out_of_scope" else kind
        ctx.guards.append(GuardVerdict(guard=guard, verdict="block", detail=detail))
        if kind == "individual_case":
            ctx.individual_case = True
            return
        ctx.confidence = ctx.raw_confidence = 1.0
        reason = guards.PROFILING_REASON if kind == "profiling" else "out of scope"
        ctx.finish("declined", guards.decline_message(kind, ctx.language), reason)


class Rewrite(Step):
    """Follow-ups ('and for 2027?') become stand-alone questions."""

    name = "rewrite"

    def run(self, ctx: Context) -> None:
        question = (
            guards.depersonalise(ctx.question, ctx.language)
            if ctx.individual_case
            else ctx.question
        )
        ctx.query = rewrite_followup(question, ctx.history)
        if ctx.query == question:
            return
        ctx.followup_of = next((t.content for t in reversed(ctx.history) if t.role == "user"), "")
        ctx.notes.append(f"follow-up rewritten as: {ctx.query}")
        kind = guards.check_rewritten(ctx.query, ctx.language)
        if kind:
            ctx.guards.append(
                GuardVerdict(guard=kind, verdict="block", detail="in the rewritten follow-up")
            )
            ctx.confidence = ctx.raw_confidence = 1.0
            decline = "profiling" if kind == "profiling" else "injection"
            ctx.finish("declined", guards.decline_message(decline, ctx.language),
                       f"{kind} in the rewritten follow-up")  # fmt: skip


class Retrieve(Step):
    """One query embedding, dense + BM25 fused; passages that address the assistant are
    quarantined (retrieved text is data, never instructions)."""

    name = "retrieve"

    def __init__(self, embedder: Embedder, retriever: HybridRetriever, pool: Executor,
                 multilingual: MultilingualEmbedder | None = None) -> None:  # fmt: skip
        self.embedder = embedder
        self.retriever = retriever
        self.pool = pool
        self.multilingual = multilingual

    def run(self, ctx: Context) -> None:
        index = self.retriever.index
        ctx.multilingual = cross_lingual(ctx, self.multilingual, self.retriever)
        cross = None
        if ctx.multilingual and self.multilingual is not None:
            cross = self.cross(ctx, self.multilingual)
            ctx.keywords = cross.english
            # The composer reads the candidates' cross-language sentence similarities, not
            # this vector (ComposeInput.multilingual).
            ctx.query_vector = cross.vector
            ctx.terms = QueryTerms.of(f"{ctx.query} {cross.english}", index, ctx.language)
        else:
            ctx.query_vector = self.embedder.embed_query(ctx.query)
            ctx.terms = QueryTerms.of(ctx.query, index, ctx.language)
        candidates = self.retriever.candidates(
            ctx.query, ctx.query_vector, ctx.filters, ctx.terms, cross
        )
        parts = split_question(ctx.query) if ctx.language == "en" else [ctx.query]
        if len(parts) > 1:
            # A multi-part question: each part retrieves too, and a passage keeps its best
            # score, so the second part's evidence is not crowded out by the first's.
            vectors = self.embedder.embed_queries(parts)
            ctx.parts = [
                SubQuestion(part, vector, QueryTerms.of(part, index))
                for part, vector in zip(parts, vectors, strict=True)
            ]
            best = {c.id: c for c in candidates}
            for sub in ctx.parts:
                for cand in self.retriever.candidates(sub.text, sub.vector, ctx.filters, sub.terms):
                    if cand.id not in best or cand.score > best[cand.id].score:
                        best[cand.id] = cand
            candidates = sorted(best.values(), key=lambda c: c.score, reverse=True)
        clean = [c for c in candidates if c.id not in index.quarantined]
        if len(clean) < len(candidates):
            ctx.guards.append(
                GuardVerdict(
                    guard="passage_injection",
                    verdict="flag",
                    detail=f"{len(candidates) - len(clean)} retrieved passage(s) quarantined",
                )
            )
        ctx.candidates = clean

    def cross(self, ctx: Context, multilingual: MultilingualEmbedder) -> CrossLingual:
        """The question's vectors across languages: its keywords' from `Prefetch` when it
        was not rewritten since, else started here."""
        weights = self.retriever.cross_weights
        pre = ctx.prefetched
        if pre is None or pre.question != ctx.query:
            pre = KeywordVectors.start(ctx.query, ctx.language, self.embedder, multilingual,
                                       weights.keywords, self.pool)  # fmt: skip
        vector = multilingual.embed_query(ctx.query)  # the semantic guard's, usually
        english_vector, keyword_vector = pre.english_vector, pre.keyword_vector
        return CrossLingual(
            vector,
            pre.english,
            english_vector.result() if english_vector is not None else None,
            weights,
            keyword_vector.result() if keyword_vector is not None else None,
        )


SCOPE_EVIDENCE = (0.45, 0.5)  # (term coverage, best sentence similarity) of a top passage
# A question not in English whose words the rules do not know is in scope when a top passage
# is this close in meaning (the blended cross-language similarity, on the English scale):
# its words mostly do not occur in the documents, so coverage cannot help. On the
# multilingual dev set, of the questions the rules did not place in scope, 11 of 14 in-scope
# ones reach 0.5 and none of 23 unrelated ones does (the highest: 0.49).
ML_SCOPE_SIMILARITY = 0.5


class Scope(Step):
    """Out of scope unless the question is about migration, asylum or the EMN (a broad
    lexicon: an in-scope question the corpus can't answer is abstained on, not declined), or
    about EU policy in general with a passage that clearly speaks to it."""

    name = "scope"

    def run(self, ctx: Context) -> None:
        best = max((c.best_sentence for c in ctx.candidates), default=0.0)
        coverage, similarity = SCOPE_EVIDENCE
        evidence = any(
            c.coverage >= coverage and c.best_sentence >= similarity for c in ctx.candidates[:5]
        )
        language = ctx.language
        # A question not in English is also read through its English keywords: its words
        # for the EMN or a procedure are in the glossary when the rules miss them. A
        # follow-up ("and how is it split?") is judged with the question it follows: the
        # rewrite keeps only part of it (the history passed the attack guards already).
        text_ = f"{ctx.query} {ctx.keywords} {ctx.followup_of}"
        if not (
            guards.in_domain(text_, language)
            or (guards.about_eu_policy(text_, language) and evidence)
            or (ctx.multilingual and best >= ML_SCOPE_SIMILARITY)
        ):
            ctx.guards.append(GuardVerdict(guard="scope", verdict="block", detail="out of scope"))
            ctx.confidence = ctx.raw_confidence = 1.0 - best
            ctx.finish("declined", guards.decline_message("out_of_scope", language), "out of scope")
            return
        ctx.guards.append(GuardVerdict(guard="scope", verdict="pass"))


class Rerank(Step):
    """Top passages with per-document diversity."""

    name = "rerank"

    def __init__(self, k: int) -> None:
        self.k = k

    def run(self, ctx: Context) -> None:
        ctx.passages = diversify(ctx.candidates, self.k)


class Compose(Step):
    """The draft from the chosen composer; when the model fails, the extractive one's."""

    name = "compose"

    def __init__(self, composers: dict[str, Composer], generation: bool,
                 verifiers: Verifiers) -> None:  # fmt: skip
        self.composers = composers
        self.generation = generation
        self.verifiers = verifiers

    def run(self, ctx: Context) -> None:
        data = compose_input(ctx)
        name = ctx.composer if self.generation else "extractive"
        composer = self.composers.get(name) or self.composers["extractive"]
        try:
            ctx.draft = composer.compose(data)
            ctx.model = composer.model
        except ComposerError as exc:
            self.unavailable(ctx, data, exc)

    def stream(self, ctx: Context) -> Iterator[str]:
        """With the model, tokens are buffered into sentences and each sentence is verified
        before it is sent, so unsupported text never reaches the user."""
        if not ctx.stream_model or ctx.individual_case:
            # An individual case: the decline comes first, no model text is streamed ahead.
            self.run(ctx)
            return
        data = compose_input(ctx)
        composer = self.composers["llm"]
        checked = SentenceChecks(self.verifiers.of(ctx), ctx.passages)
        raw: list[str] = []
        buffer = ""
        try:
            for token in composer.stream(data):
                raw.append(token)
                buffer += token
                sentences = split_answer(buffer)
                # The last piece may be incomplete: keep it until more text arrives.
                yield from _kept(checked, sentences[:-1])
                if len(sentences) > 1:
                    buffer = sentences[-1]
            yield from _kept(checked, split_answer(buffer))
            ctx.model = composer.model
            ctx.draft = Draft(text="".join(raw), model=composer.model)
            ctx.verified = checked.verified()
        except ComposerError as exc:
            draft = self.unavailable(ctx, data, exc)
            if checked.kept:
                # Sentences already sent stay, with the markers they were sent with; the
                # extractive sentences continue the same numbering and are sent after them.
                yield from _kept(checked, split_answer(draft.text), again=False)
                ctx.verified = checked.verified()

    def unavailable(self, ctx: Context, data: ComposeInput, exc: ComposerError) -> Draft:
        return fall_back(
            ctx,
            self.composers["extractive"],
            data,
            f"The language model was unavailable ({exc}); this answer was composed "
            "extractively from the sources instead.",
        )


@dataclass
class Verifiers:
    """The verifier for English questions, and the one across languages (a question not in
    English: the model may answer in its language, the passages carry the multilingual
    model's vectors)."""

    english: Verifier
    multilingual: Verifier | None = None

    def of(self, ctx: Context) -> Verifier:
        return self.multilingual if ctx.multilingual and self.multilingual else self.english


def _kept(checked: SentenceChecks, sentences: list[str], again: bool = True) -> Iterator[str]:
    for sentence in sentences:
        text = checked.check(sentence, again)
        if text:
            yield text


def fall_back(ctx: Context, extractive: Composer, data: ComposeInput, why: str) -> Draft:
    """The model failed, or nothing it wrote is supported: the sources are quoted instead
    (the extractive composer's draft) and the answer says why."""
    ctx.fallback = True
    ctx.model = "none"
    ctx.notes.append(why)
    ctx.draft = extractive.compose(data)
    return ctx.draft


def compose_input(ctx: Context) -> ComposeInput:
    wants_numbers, wants_list = classify_question(ctx.query, ctx.language)
    assert ctx.query_vector is not None and ctx.terms is not None
    return ComposeInput(
        question=ctx.query,
        passages=ctx.passages,
        query_vector=ctx.query_vector,
        terms=ctx.terms,
        wants_numbers=wants_numbers,
        wants_list=wants_list,
        parts=ctx.parts,
        multilingual=ctx.multilingual,
    )


class Verify(Step):
    """Unsupported sentences and unbacked figures removed; behaviour decided. A model draft
    with nothing supported is replaced by the extractive answer (and the answer says so)."""

    name = "verify"

    def __init__(self, verifiers: Verifiers, threshold: float, extractive: Composer) -> None:
        self.verifiers = verifiers
        self.threshold = threshold
        self.extractive = extractive

    def run(self, ctx: Context) -> None:
        verifier = self.verifiers.of(ctx)
        if ctx.verified is None:  # streaming verifies sentence by sentence before this step
            draft = ctx.draft.text if ctx.draft else ""
            ctx.verified = verifier.verify(draft, ctx.passages)
        verified = ctx.verified
        for removed in verified.removed:
            ctx.notes.append(f"removed: {removed.sentence[:80]!r} ({removed.reason})")
        if not verified.kept and ctx.model != "none" and ctx.passages:
            draft = fall_back(
                ctx,
                self.extractive,
                compose_input(ctx),
                "The language model's draft was not supported by the sources; this answer "
                "quotes the sources instead.",
            )
            ctx.verified = verified = verifier.verify(draft.text, ctx.passages)
        self.decide(ctx, verified)

    def decide(self, ctx: Context, verified: Verified) -> None:
        # Thresholds compare the raw score (they were set on it); users see the calibrated one.
        raw = ctx.raw_confidence = raw_confidence(ctx)
        ctx.confidence = calibrated(raw, confidence_features(ctx))
        assert ctx.terms is not None
        uncovered = unanswered_constraints(
            ctx.query, verified.text, [ctx.passages[i] for i in verified.cited], ctx.terms
        )
        if ctx.individual_case:
            heading = text(ctx.language, "messages", "individual_general_heading")
            general = (
                f"\n\n{heading}\n{verified.text}"
                if verified.kept and raw >= INDIVIDUAL_INFO_CONFIDENCE and not uncovered
                else ""
            )
            if not general:
                ctx.verified = Verified(text="")
            ctx.finish("declined", guards.decline_message("individual", ctx.language) + general,
                       "individual case: no personal advice")  # fmt: skip
            return
        ctx.uncovered = uncovered
        if not verified.kept or raw < self.threshold or uncovered:
            why = (
                f"the documents do not mention {', '.join(uncovered)}"
                if uncovered
                else "no passage answers the question with enough confidence"
            )
            ctx.finish("abstained", abstention_text(ctx), why)
            ctx.verified = Verified(text="")
            return
        notes = [n for n in ctx.notes if not n.startswith("removed:")]
        ctx.finish("answered", verified.text, " ".join(notes) if ctx.fallback else "")


def raw_confidence(ctx: Context) -> float:
    """Evidence strength of the verified answer: hand-weighted, ranks answers but is no
    probability. Thresholds (`EMN_ABSTAIN_THRESHOLD`, individual cases) compare this."""
    if not ctx.passages or ctx.verified is None or not ctx.verified.kept:
        return 0.0
    cited = cited_passages(ctx)
    best_sentence = max(c.best_sentence for c in cited)
    coverage = max(c.coverage for c in cited)
    kept = ctx.verified.kept / (ctx.verified.kept + len(ctx.verified.removed))
    value = 0.55 * best_sentence + 0.30 * coverage + 0.15 * kept
    return float(min(1.0, max(0.0, value)))


def cited_passages(ctx: Context) -> list[Candidate]:
    """The passages the verified answer cites; the top passage when it cites none."""
    assert ctx.verified is not None and ctx.passages
    return [ctx.passages[i] for i in ctx.verified.cited] or [ctx.passages[0]]


def confidence_features(ctx: Context) -> dict[str, float]:
    """The evidence the calibration map reads beside the raw score (rag.calibration.FEATURES):
    the share of the cited passages that come from a legal act."""
    if not ctx.passages or ctx.verified is None:
        return {"legal_share": 0.0}
    cited = cited_passages(ctx)
    legal = sum(1 for c in cited if c.chunk.doc.kind in LEGAL_KINDS)
    return {"legal_share": legal / len(cited)}


def abstention_text(ctx: Context) -> str:
    seen: dict[str, str] = {}
    for cand in ctx.candidates[:6]:
        doc = cand.chunk.doc
        label = f"{doc.title}" + (f" ({doc.reference})" if doc.reference else "")
        seen.setdefault(doc.doc_id, label)
    closest = "; ".join(list(seen.values())[:3])
    lead = text(ctx.language, "messages", "abstain")
    if not closest:
        return lead
    return f"{lead} {text(ctx.language, 'messages', 'abstain_closest', documents=closest)}"


class GuardOut(Step):
    """No configured secret and no hijacked instruction ever leaves in an answer."""

    name = "guard_out"
    always_runs = True

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets

    def run(self, ctx: Context) -> None:
        verdicts = guards.check_answer(ctx.answer, self.secrets)
        ctx.guards.extend(verdicts)
        if any(v.verdict == "block" for v in verdicts):
            ctx.verified = Verified(text="")
            ctx.behaviour = "declined"
            ctx.answer = guards.decline_message("injection", ctx.language)
            ctx.reason = "answer blocked by the output guard"
