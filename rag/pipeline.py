"""The entry point for the API, the CLI, the chat page and the evaluation suites: `Assistant`
runs the answering steps (`rag.steps`) over one context, for `ask` and for `stream` alike.

Each step is timed; a step may end the run early (a declined question skips retrieval).
"""

from __future__ import annotations

import importlib.metadata
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from common.embedding import embedder_from_settings
from common.language import detect_language
from common.multilingual import multilingual_from_settings
from common.settings import Settings
from common.texts import text
from index.reader import IndexReader
from index.schema import Filters
from rag.answer import (
    Answer,
    Citation,
    RetrievedPassage,
    Turn,
    Versions,
    disclosure,
)
from rag.citation import citation, public_base
from rag.composers.base import Composer
from rag.composers.extractive import ExtractiveComposer
from rag.composers.llm import LLMComposer
from rag.filter_hint import FilterHint
from rag.glossary import preload as preload_glossaries
from rag.guard_text import guard_clean
from rag.guards import check_question
from rag.provenance import Provenance, load_or_create_key, sign_output
from rag.retrieval import (
    Candidate,
    CrossWeights,
    HybridRetriever,
    diversify,
    to_english_scale,
)
from rag.semantic_guard import SemanticGuard
from rag.sentence_ranker import load_ranker
from rag.steps import (
    Compose,
    Context,
    GuardIn,
    GuardOut,
    Language,
    Prefetch,
    Rerank,
    Retrieve,
    Rewrite,
    Scope,
    Step,
    Verifiers,
    Verify,
)
from rag.verify import Verifier

try:
    APP_VERSION = importlib.metadata.version("emn-policy-assistant")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    APP_VERSION = "0.0.0"


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
        self.multilingual = multilingual_from_settings(settings)
        self.semantic_guard = SemanticGuard(self.multilingual) if self.multilingual else None
        self.retriever = HybridRetriever(
            self.index,
            cross_weights=CrossWeights(
                settings.multilingual_lexical_weight,
                settings.multilingual_english_weight,
                settings.multilingual_english_sentences,
                settings.multilingual_keyword_weight,
            ),
            unverified_weight=settings.unverified_weight,
        )
        self.composers: dict[str, Composer] = composers or {
            "extractive": ExtractiveComposer(
                ranker=load_ranker(settings.sentence_ranker) if settings.sentence_ranker else None
            ),
            "llm": LLMComposer(settings),
        }
        self.verifiers = Verifiers(
            Verifier(embed=self.embedder.embed_passages),
            Verifier(self.multilingual.embed_passages, 0.0, to_english_scale, multilingual=True)
            if self.multilingual
            else None,
        )
        self.generation = settings.generation == "on"
        # A question not in English embeds its keywords here while the guards run (Prefetch).
        self.prefetch_pool = ThreadPoolExecutor(2, thread_name_prefix="prefetch")
        assert settings.data_dir is not None
        self.provenance_key = load_or_create_key(
            settings.data_dir / "provenance.key", settings.provenance_key.get_secret_value()
        )

    def set_generation(self, enabled: bool) -> None:
        """The kill switch: off means search-and-quote only, effective immediately."""
        self.generation = enabled

    def steps(self) -> list[Step]:
        return [
            Language(),
            Prefetch(self.embedder, self.retriever, self.multilingual, self.prefetch_pool),
            GuardIn(self.semantic_guard),
            Rewrite(),
            Retrieve(self.embedder, self.retriever, self.prefetch_pool, self.multilingual),
            Scope(),
            Rerank(self.settings.retrieval_k),
            Compose(self.composers, self.generation, self.verifiers),
            Verify(self.verifiers, self.settings.abstain_threshold, self.composers["extractive"]),
            FilterHint(self.retriever),
            GuardOut([self.settings.llm_api_key.get_secret_value()]),
        ]

    def run(self, ctx: Context) -> Context:
        """All the steps, nothing sent on the way."""
        for _ in self.run_steps(ctx):
            pass
        return ctx

    def run_steps(self, ctx: Context) -> Iterator[str]:
        """Every step of `steps()` in order, each timed; once a step has ended the run, only
        the steps that always run. Yields the text steps send as they go."""
        self.index.ensure_loaded()
        started = time.perf_counter()
        for step in self.steps():
            if ctx.done and not step.always_runs:
                continue
            t0 = time.perf_counter()
            yield from step.stream(ctx)
            ctx.timings[step.name] = round((time.perf_counter() - t0) * 1000, 2)
        ctx.timings["total"] = round((time.perf_counter() - started) * 1000, 2)

    def _context(self, question: str, history: list[Turn] | None, filters: Filters | None,
                composer: str | None) -> Context:  # fmt: skip
        # Cleaned before anything reads them (rag/guard_text.py): the API cleans at its
        # boundary too, but the library path must be safe by itself.
        return Context(
            question=guard_clean(question).strip(),
            history=[Turn(role=t.role, content=guard_clean(t.content)) for t in history or []],
            filters=filters,
            composer=composer or self.settings.composer,
        )

    def ask(self, question: str, history: list[Turn] | None = None,
            filters: Filters | None = None, composer: str | None = None) -> Answer:  # fmt: skip
        return self.to_answer(self.run(self._context(question, history, filters, composer)))

    def stream(self, question: str, history: list[Turn] | None = None,
               filters: Filters | None = None, composer: str | None = None
               ) -> Iterator[StreamEvent]:  # fmt: skip
        """Verified text as it becomes available, then the full answer.

        With the `llm` composer, each sentence of the model's is verified before it is sent
        (the compose step), so unsupported text never reaches the user. Other paths send the
        verified answer in sentence-sized pieces.
        """
        ctx = self._context(question, history, filters, composer)
        ctx.stream_model = ctx.composer == "llm" and self.generation
        sent = False
        for piece_text in self.run_steps(ctx):
            sent = True
            yield StreamEvent(kind="delta", text=piece_text + " ")
        answer = self.to_answer(ctx)
        if not sent or answer.behaviour != "answered":
            # Nothing verified was sent (no model, a decline, an abstention, the extractive
            # fallback): the client still gets the final text, then the record. After the
            # model's path it goes whole, otherwise in sentence-sized pieces.
            if ctx.stream_model:
                yield StreamEvent(kind="delta", text=answer.answer)
            else:
                # Sentence-sized pieces, each with the whitespace that follows it, so that
                # the pieces join into the answer exactly (a list keeps its line breaks).
                for piece in re.findall(r".+?(?:(?<=[.!?\]])\s+|$)", answer.answer, re.S):
                    if piece:
                        yield StreamEvent(kind="delta", text=piece)
        yield StreamEvent(kind="answer", answer=answer)

    def warm_up(self) -> None:
        """Load the index, open its dense search and load the models now rather than on the
        first question."""
        self.index.ensure_loaded()
        self.index.warm_dense()
        self.warm_models()

    def warm_models(self) -> None:
        """Load the embedding models, language detection, the input guard's rules (every
        language's injection patterns: about a second of regex compilation a restarted host's
        first question would otherwise pay), the semantic guard's examples and every
        language's glossary (the multilingual model's query path, about 0.5 s to read, when
        the loaded index has its vectors; its patterns compile as questions need them)."""
        self.embedder.embed_query("warm-up")
        check_question("warm-up")
        detect_language("Quelle est la politique de l'UE en matière de retour ?")
        if self.multilingual is not None and self.index.has_multilingual:
            self.multilingual.embed_query("warm-up")
            preload_glossaries()
        if self.semantic_guard is not None:
            self.semantic_guard.kind("warm-up")

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
            base = public_base(self.settings)
            for marker, index in enumerate(ctx.verified.cited, start=1):
                citations.append(citation(marker, ctx.passages[index].chunk, base))
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
            language=ctx.language,
            language_note=language_note(ctx),
            disclosure=disclosure(ctx.language),
            guards=ctx.guards,
            fallback=ctx.fallback,
        )
        answer.provenance = self.sign(answer, verbatim=ctx.model == "none")
        return answer

    def sign(self, answer: Answer, verbatim: bool) -> Provenance:
        """The signed provenance record over the answer as it will be returned."""
        return sign_output(
            self.provenance_key,
            text=answer.answer,
            citations=[c.model_dump(mode="json") for c in answer.citations],
            generator_version=APP_VERSION,
            composer=answer.versions.composer,
            model=answer.versions.model,
            index_manifest=answer.versions.index_manifest,
            trace_id=answer.trace_id,
            behaviour=answer.behaviour,
            verbatim=verbatim,
        )


def language_note(ctx: Context) -> str:
    """'Quoted verbatim from the English original', in the question's language, when an
    answer to a question not in English quotes the documents (the extractive composer, or
    the model's fallback to it)."""
    if ctx.language == "en" or ctx.behaviour != "answered" or ctx.model != "none":
        return ""
    if ctx.verified is None or not ctx.verified.cited:
        return ""
    languages = {ctx.passages[i].chunk.doc.language or "en" for i in ctx.verified.cited}
    if languages == {ctx.language}:
        return ""
    return text(ctx.language, "messages", "quoted_from_original")
