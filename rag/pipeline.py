"""The answering pipeline: a readable list of named steps run over one context object.

    guard_in -> rewrite -> retrieve -> scope -> rerank -> compose -> verify -> guard_out

Each step is a small unit with one job; each is timed; a step may end the run early (a
declined question skips retrieval). `Assistant` is the entry point for the API, the CLI, the
chat page and the evaluation suites.
"""

from __future__ import annotations

import importlib.metadata
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from common.embedding import Embedder, embedder_from_settings
from common.settings import Settings
from index.reader import IndexReader
from index.schema import Filters
from rag import guards
from rag.answer import (
    Answer,
    Citation,
    GuardVerdict,
    RetrievedPassage,
    Turn,
    Versions,
    new_trace_id,
)
from rag.answerability import unanswered_constraints
from rag.composers.base import (
    ComposeInput,
    Composer,
    ComposerError,
    Draft,
    SubQuestion,
    classify_question,
    split_question,
)
from rag.composers.extractive import ExtractiveComposer
from rag.composers.llm import LLMComposer
from rag.provenance import (
    Provenance,
    citations_digest,
    key_id,
    load_or_create_key,
    sha256,
    sign,
)
from rag.retrieval import Candidate, HybridRetriever, QueryTerms, diversify
from rag.rewrite import rewrite_followup
from rag.verify import Removed, Verified, Verifier, assemble, split_answer

try:
    APP_VERSION = importlib.metadata.version("emn-policy-assistant")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    APP_VERSION = "0.0.0"

INDIVIDUAL_INFO_CONFIDENCE = 0.7


@dataclass
class Context:
    question: str
    history: list[Turn]
    filters: Filters | None
    composer: str
    trace_id: str = field(default_factory=new_trace_id)
    query: str = ""
    individual_case: bool = False
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
    confidence: float = 0.0
    guards: list[GuardVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    fallback: bool = False
    model: str = "none"
    done: bool = False

    def finish(self, behaviour: Literal["answered", "abstained", "declined"], answer: str,
               reason: str) -> None:  # fmt: skip
        self.behaviour, self.answer, self.reason, self.done = behaviour, answer, reason, True


class Step:
    name = "step"

    def run(self, ctx: Context) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class GuardIn(Step):
    """Size limits, attacks on the assistant, Art. 5 uses, fabrication, individual cases."""

    name = "guard_in"

    def run(self, ctx: Context) -> None:
        history_chars = sum(len(t.content) for t in ctx.history)
        result = guards.check_question(ctx.question, history_chars, len(ctx.history))
        ctx.guards.extend(result.verdicts)
        if len(ctx.history) > guards.MAX_HISTORY_TURNS:
            ctx.history = ctx.history[-guards.MAX_HISTORY_TURNS :]
        if result.blocked:
            ctx.confidence = 1.0
            ctx.finish("declined", result.decline_message, result.decline_reason)
        elif result.individual_case:
            ctx.individual_case = True


class Rewrite(Step):
    """Follow-ups ('and for 2027?') become stand-alone questions."""

    name = "rewrite"

    def run(self, ctx: Context) -> None:
        question = guards.depersonalise(ctx.question) if ctx.individual_case else ctx.question
        ctx.query = rewrite_followup(question, ctx.history)
        if ctx.query != question:
            ctx.notes.append(f"follow-up rewritten as: {ctx.query}")


class Retrieve(Step):
    """One query embedding, dense + BM25 fused; passages that address the assistant are
    quarantined (retrieved text is data, never instructions)."""

    name = "retrieve"

    def __init__(self, embedder: Embedder, retriever: HybridRetriever) -> None:
        self.embedder = embedder
        self.retriever = retriever

    def run(self, ctx: Context) -> None:
        index = self.retriever.index
        ctx.query_vector = self.embedder.embed_query(ctx.query)
        ctx.terms = QueryTerms.of(ctx.query, index)
        candidates = self.retriever.candidates(ctx.query, ctx.query_vector, ctx.filters, ctx.terms)
        parts = split_question(ctx.query)
        if len(parts) > 1:
            # A multi-part question: each part retrieves too, and a passage keeps its best
            # score, so the second part's evidence is not crowded out by the first's.
            vectors = self.embedder.embed_queries(parts)
            ctx.parts = [
                SubQuestion(text, vector, QueryTerms.of(text, index))
                for text, vector in zip(parts, vectors, strict=True)
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


class Scope(Step):
    """Out of scope when nothing in the question is about migration, asylum, the EMN or EU
    policy (a broad lexicon: an in-scope question the corpus can't answer is abstained on,
    not declined)."""

    name = "scope"

    def run(self, ctx: Context) -> None:
        best = max((c.best_sentence for c in ctx.candidates), default=0.0)
        if not guards.in_domain(ctx.query):
            ctx.guards.append(GuardVerdict(guard="scope", verdict="block", detail="out of scope"))
            ctx.confidence = 1.0 - best
            ctx.finish("declined", guards.DECLINE_OUT_OF_SCOPE, "out of scope")
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
    name = "compose"

    def __init__(self, composers: dict[str, Composer], generation: bool) -> None:
        self.composers = composers
        self.generation = generation

    def run(self, ctx: Context) -> None:
        data = compose_input(ctx)
        name = ctx.composer if self.generation else "extractive"
        composer = self.composers.get(name) or self.composers["extractive"]
        try:
            ctx.draft = composer.compose(data)
            ctx.model = composer.model
        except ComposerError as exc:
            ctx.fallback = True
            ctx.notes.append(
                f"The language model was unavailable ({exc}); this answer was composed "
                "extractively from the sources instead."
            )
            ctx.draft = self.composers["extractive"].compose(data)
            ctx.model = "none"


def compose_input(ctx: Context) -> ComposeInput:
    wants_numbers, wants_list = classify_question(ctx.query)
    assert ctx.query_vector is not None and ctx.terms is not None
    return ComposeInput(
        question=ctx.query,
        passages=ctx.passages,
        query_vector=ctx.query_vector,
        terms=ctx.terms,
        wants_numbers=wants_numbers,
        wants_list=wants_list,
        parts=ctx.parts,
    )


class Verify(Step):
    """Unsupported sentences and unbacked figures removed; behaviour decided. A model draft
    with nothing supported is replaced by the extractive answer (and the answer says so)."""

    name = "verify"

    def __init__(self, verifier: Verifier, threshold: float, extractive: Composer) -> None:
        self.verifier = verifier
        self.threshold = threshold
        self.extractive = extractive

    def run(self, ctx: Context) -> None:
        if ctx.verified is None:  # streaming verifies sentence by sentence before this step
            draft = ctx.draft.text if ctx.draft else ""
            ctx.verified = self.verifier.verify(draft, ctx.passages)
        verified = ctx.verified
        for removed in verified.removed:
            ctx.notes.append(f"removed: {removed.sentence[:80]!r} ({removed.reason})")
        if not verified.kept and ctx.model != "none" and ctx.passages:
            ctx.fallback = True
            ctx.model = "none"
            ctx.notes.append(
                "The language model's draft was not supported by the sources; this answer "
                "quotes the sources instead."
            )
            ctx.draft = self.extractive.compose(compose_input(ctx))
            ctx.verified = verified = self.verifier.verify(ctx.draft.text, ctx.passages)
        self.decide(ctx, verified)

    def decide(self, ctx: Context, verified: Verified) -> None:
        ctx.confidence = confidence(ctx)
        assert ctx.terms is not None
        uncovered = unanswered_constraints(
            ctx.query, verified.text, [ctx.passages[i] for i in verified.cited], ctx.terms
        )
        if ctx.individual_case:
            general = (
                f"\n\nGeneral policy information from EMN documents:\n{verified.text}"
                if verified.kept and ctx.confidence >= INDIVIDUAL_INFO_CONFIDENCE and not uncovered
                else ""
            )
            if not general:
                ctx.verified = Verified(text="")
            ctx.finish("declined", guards.DECLINE_INDIVIDUAL + general,
                       "individual case: no personal advice")  # fmt: skip
            return
        if not verified.kept or ctx.confidence < self.threshold or uncovered:
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


def confidence(ctx: Context) -> float:
    if not ctx.passages or ctx.verified is None or not ctx.verified.kept:
        return 0.0
    top = ctx.passages[0]
    cited = [ctx.passages[i] for i in ctx.verified.cited] or [top]
    best_sentence = max(c.best_sentence for c in cited)
    coverage = max(c.coverage for c in cited)
    kept = ctx.verified.kept / (ctx.verified.kept + len(ctx.verified.removed))
    value = 0.55 * best_sentence + 0.30 * coverage + 0.15 * kept
    return float(min(1.0, max(0.0, value)))


def abstention_text(ctx: Context) -> str:
    seen: dict[str, str] = {}
    for cand in ctx.candidates[:6]:
        doc = cand.chunk.doc
        label = f"{doc.title}" + (f" ({doc.reference})" if doc.reference else "")
        seen.setdefault(doc.doc_id, label)
    closest = "; ".join(list(seen.values())[:3])
    text = "The documents I can search do not cover this question, so I can't answer it reliably."
    return f"{text} The closest documents are: {closest}." if closest else text


class GuardOut(Step):
    """No configured secret and no hijacked instruction ever leaves in an answer."""

    name = "guard_out"

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets

    def run(self, ctx: Context) -> None:
        verdicts = guards.check_answer(ctx.answer, self.secrets)
        ctx.guards.extend(verdicts)
        if any(v.verdict == "block" for v in verdicts):
            ctx.verified = Verified(text="")
            ctx.behaviour = "declined"
            ctx.answer = guards.DECLINE_INJECTION
            ctx.reason = "answer blocked by the output guard"


@dataclass
class StreamEvent:
    kind: Literal["delta", "answer"]
    text: str = ""
    answer: Answer | None = None


class Assistant:
    """Entry point: `ask` returns an `Answer`; `stream` yields text deltas then the answer."""

    def __init__(self, settings: Settings, index: IndexReader | None = None,
                 composers: dict[str, Composer] | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.index = index or IndexReader(settings)
        self.embedder = embedder_from_settings(settings)
        self.retriever = HybridRetriever(self.index)
        self.composers: dict[str, Composer] = composers or {
            "extractive": ExtractiveComposer(),
            "llm": LLMComposer(settings),
        }
        self.verifier = Verifier(embed=self.embedder.embed_passages)
        self.generation = settings.generation == "on"
        assert settings.data_dir is not None
        self.provenance_key = load_or_create_key(
            settings.data_dir / "provenance.key", settings.provenance_key.get_secret_value()
        )

    def set_generation(self, enabled: bool) -> None:
        """The kill switch: off means search-and-quote only, effective immediately."""
        self.generation = enabled

    def steps(self) -> list[Step]:
        return [
            GuardIn(),
            Rewrite(),
            Retrieve(self.embedder, self.retriever),
            Scope(),
            Rerank(self.settings.retrieval_k),
            Compose(self.composers, self.generation),
            Verify(self.verifier, self.settings.abstain_threshold, self.composers["extractive"]),
            GuardOut([self.settings.llm_api_key.get_secret_value()]),
        ]

    def run(self, ctx: Context) -> Context:
        self.index.ensure_loaded()
        started = time.perf_counter()
        for step in self.steps():
            if not ctx.done or step.name == "guard_out":
                self._timed(step, ctx)
        ctx.timings["total"] = round((time.perf_counter() - started) * 1000, 2)
        return ctx

    def ask(self, question: str, history: list[Turn] | None = None,
            filters: Filters | None = None, composer: str | None = None) -> Answer:  # fmt: skip
        ctx = Context(
            question=question.strip(),
            history=list(history or []),
            filters=filters,
            composer=composer or self.settings.composer,
        )
        return self.to_answer(self.run(ctx))

    def stream(self, question: str, history: list[Turn] | None = None,
               filters: Filters | None = None, composer: str | None = None
               ) -> Iterator[StreamEvent]:  # fmt: skip
        """Verified text as it becomes available, then the full answer.

        With the `llm` composer, model tokens are buffered into sentences and each sentence is
        verified before it is sent, so unsupported text never reaches the user. Other paths
        send the verified answer in sentence-sized pieces.
        """
        ctx = Context(
            question=question.strip(),
            history=list(history or []),
            filters=filters,
            composer=composer or self.settings.composer,
        )
        use_model = ctx.composer == "llm" and self.generation
        if not use_model:
            answer = self.to_answer(self.run(ctx))
            for piece in re.split(r"(?<=[.!?\]])\s+", answer.answer):
                if piece:
                    yield StreamEvent(kind="delta", text=piece + " ")
            yield StreamEvent(kind="answer", answer=answer)
            return
        self.index.ensure_loaded()
        started = time.perf_counter()
        steps = self.steps()
        before = [s for s in steps if s.name in ("guard_in", "rewrite", "retrieve", "scope",
                                                 "rerank")]  # fmt: skip
        after = [s for s in steps if s.name in ("verify", "guard_out")]
        for step in before:
            if not ctx.done:
                self._timed(step, ctx)
        sent = False
        if not ctx.done and ctx.individual_case:
            # The decline comes first: no model text is streamed ahead of it.
            self._timed(Compose(self.composers, self.generation), ctx)
        elif not ctx.done:
            for event in self._stream_model(ctx):
                sent = True
                yield event
        for step in after:
            if not ctx.done or step.name == "guard_out":
                self._timed(step, ctx)
        ctx.timings["total"] = round((time.perf_counter() - started) * 1000, 2)
        answer = self.to_answer(ctx)
        if not sent or answer.behaviour != "answered":
            # Nothing verified was sent (decline, abstention, extractive fallback): the
            # client still gets the final text as a delta, then the record.
            yield StreamEvent(kind="delta", text=answer.answer)
        yield StreamEvent(kind="answer", answer=answer)

    def _timed(self, step: Step, ctx: Context) -> None:
        t0 = time.perf_counter()
        step.run(ctx)
        ctx.timings[step.name] = round((time.perf_counter() - t0) * 1000, 2)

    def _stream_model(self, ctx: Context) -> Iterator[StreamEvent]:
        """Compose with the model token by token; emit each sentence once verified."""
        t0 = time.perf_counter()
        data = compose_input(ctx)
        composer = self.composers["llm"]
        order: dict[int, int] = {}
        kept: list[str] = []
        removed: list[Removed] = []
        raw: list[str] = []
        buffer = ""
        try:
            for token in composer.stream(data):
                raw.append(token)
                buffer += token
                sentences = split_answer(buffer)
                # The last piece may be incomplete: keep it until more text arrives.
                for sentence in sentences[:-1]:
                    text, why = self.verifier.check_sentence(sentence, ctx.passages, order)
                    if text:
                        kept.append(text)
                        yield StreamEvent(kind="delta", text=text + " ")
                    elif why:
                        removed.append(why)
                if len(sentences) > 1:
                    buffer = sentences[-1]
            for sentence in split_answer(buffer):
                text, why = self.verifier.check_sentence(sentence, ctx.passages, order)
                if text:
                    kept.append(text)
                    yield StreamEvent(kind="delta", text=text + " ")
                elif why:
                    removed.append(why)
            ctx.model = composer.model
            ctx.draft = Draft(text="".join(raw), model=composer.model)
            ctx.verified = assemble(kept, removed, order)
        except ComposerError as exc:
            ctx.fallback = True
            ctx.notes.append(
                f"The language model was unavailable ({exc}); this answer was composed "
                "extractively from the sources instead."
            )
            ctx.model = "none"
            ctx.draft = self.composers["extractive"].compose(data)
            ctx.verified = None
            if kept:
                # Sentences already sent stay, with the markers they were sent with; the
                # extractive sentences continue the same numbering and are sent after them.
                for sentence in split_answer(ctx.draft.text):
                    text, why = self.verifier.check_sentence(sentence, ctx.passages, order)
                    if text and text not in kept:
                        kept.append(text)
                        yield StreamEvent(kind="delta", text=text + " ")
                    elif why:
                        removed.append(why)
                ctx.verified = assemble(kept, removed, order)
        ctx.timings["compose"] = round((time.perf_counter() - t0) * 1000, 2)

    def warm_up(self) -> None:
        """Load the index and the embedding model now rather than on the first question."""
        self.index.ensure_loaded()
        self.embedder.embed_query("warm-up")

    def search(self, query: str, filters: Filters | None = None, k: int = 10) -> list[Candidate]:
        self.index.ensure_loaded()
        vector = self.embedder.embed_query(query)
        # The same quarantine as answering: LangChain chains built on this must never be
        # handed a passage that addresses the model.
        candidates = [
            c
            for c in self.retriever.candidates(query, vector, filters)
            if c.id not in self.index.quarantined
        ]
        return diversify(candidates, k, per_doc_decay=1.0)

    def versions(self, composer: str, model: str) -> Versions:
        manifest = self.index.manifest
        assert manifest is not None
        return Versions(
            app=APP_VERSION,
            composer=composer,
            model=model,
            embedding_model=manifest.embedding_model.split("|")[0],
            index_manifest=manifest.manifest_hash,
            corpus_hash=manifest.corpus_hash,
            chunker=manifest.chunker_version,
        )

    def to_answer(self, ctx: Context) -> Answer:
        citations: list[Citation] = []
        if ctx.verified is not None:
            base = self.settings.api_public_url.rstrip("/")
            for marker, index in enumerate(ctx.verified.cited, start=1):
                citations.append(citation(marker, ctx.passages[index], base))
        composer = "extractive" if (ctx.fallback or not self.generation) else ctx.composer
        answer = Answer(
            answer=ctx.answer,
            behaviour=ctx.behaviour or "abstained",
            reason=ctx.reason,
            citations=citations,
            confidence=round(ctx.confidence, 3),
            trace_id=ctx.trace_id,
            versions=self.versions(composer, ctx.model),
            timings=ctx.timings,
            retrieval=[
                RetrievedPassage(
                    chunk_id=c.id,
                    doc_id=c.chunk.doc.doc_id,
                    score=round(c.score, 4),
                    dense_rank=c.dense_rank,
                    lexical_rank=c.lexical_rank,
                )
                for c in ctx.passages
            ],
            question=ctx.query or ctx.question,
            guards=ctx.guards,
            fallback=ctx.fallback,
        )
        answer.provenance = self.sign(answer, verbatim=ctx.model == "none")
        return answer

    def sign(self, answer: Answer, verbatim: bool) -> Provenance:
        """The signed provenance record over the answer as it will be returned."""
        record = Provenance(
            generator_version=APP_VERSION,
            composer=answer.versions.composer,
            model=answer.versions.model,
            index_manifest=answer.versions.index_manifest,
            trace_id=answer.trace_id,
            behaviour=answer.behaviour,
            answer_sha256=sha256(answer.answer),
            citations_sha256=citations_digest(
                [c.model_dump(mode="json") for c in answer.citations]
            ),
            verbatim=verbatim,
            key_id=key_id(self.provenance_key),
        )
        return sign(record, self.provenance_key)


def citation(marker: int, cand: Candidate, base: str = "") -> Citation:
    """`base` (EMN_API_PUBLIC_URL) makes the URL absolute; set here, before signing."""
    chunk = cand.chunk
    doc = chunk.doc
    return Citation(
        marker=marker,
        chunk_id=chunk.id,
        doc_id=doc.doc_id,
        title=doc.title,
        reference=doc.reference,
        section_path=chunk.section_path,
        page=chunk.page,
        quote=chunk.text,
        url=f"{base}/v1/documents/{doc.doc_id}/chunks#{chunk.id}",
        kind=doc.kind,
        date=doc.date,
        status=doc.status if not doc.superseded_by else f"superseded by {doc.superseded_by}",
    )
