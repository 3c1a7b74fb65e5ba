"""What the audit log keeps about one answer or inform draft: enough to reconstruct why it
was given (the passages retrieved and cited, versions, guard verdicts, timings) and no personal
data (the question or topic, and the text derived from it, are redacted before they are stored).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from index.schema import Filters
from rag.answer import Answer, Citation, GuardVerdict, Passage, Turn, Versions
from rag.redaction import redact, redact_derived, redacted_filters

if TYPE_CHECKING:  # rag.inform loads the pipeline, which `python -m api.audit` has no use for
    from rag.inform import InformDraft


class RetrievedEntry(BaseModel):
    chunk_id: str
    doc_id: str
    score: float


class CitedEntry(Passage):
    """A citation as shown with the answer, without the quoted passage (the passage is in
    the index under its chunk id, which is a hash of its text). Recorded citations may lack
    a title or status, hence their empty defaults."""

    marker: int
    title: str = ""
    status: str = ""

    @classmethod
    def of(cls, citation: Citation) -> CitedEntry:
        return cls(**citation.model_dump(include=set(cls.model_fields)))


class AnswerRecord(BaseModel):
    """What is kept about one answer: enough to reconstruct why it was given, and no
    personal data (the question is redacted before it is stored)."""

    endpoint: str = Field(description="ask, ask_stream, chat_completions or chat_stream.")
    question: str = Field(description="The question, personal data redacted.")
    query: str = Field(description="The question as answered (after rewriting), redacted.")
    history_turns: int = 0
    filters: Filters | None = None
    behaviour: str
    reason: str = ""
    answer: str = Field(default="", description="The answer text as returned, redacted.")
    confidence: float
    retrieved: list[RetrievedEntry]
    cited: list[str]
    citations: list[CitedEntry] = Field(default_factory=list)
    composer: str
    model: str
    fallback: bool = False
    index_manifest: str
    corpus_hash: str
    embedding_model: str
    app_version: str
    guards: list[GuardVerdict]
    timings: dict[str, float]
    interrupted: bool = Field(default=False, description="The client left before the stream ended.")


def answer_record(
    answer: Answer,
    *,
    endpoint: str,
    question: str,
    history: list[Turn] | None = None,
    filters: Filters | None = None,
) -> AnswerRecord:
    versions = answer.versions
    # The query, the reason and the answer derive from the question and the history (rewritten,
    # depersonalised: "I'm Olena K." -> "a person'm Olena K."), where the cues that redaction
    # keys on may be gone: what was redacted in the sources is scrubbed from them as well.
    sources = [question, *(turn.content for turn in history or [])]
    return AnswerRecord(
        endpoint=endpoint,
        question=redact(question),
        query=redact_derived(answer.question or question, sources),
        history_turns=len(history or []),
        filters=redacted_filters(filters),
        behaviour=answer.behaviour,
        reason=redact_derived(answer.reason, sources),
        answer=redact_derived(answer.answer, sources),
        confidence=answer.confidence,
        retrieved=[
            RetrievedEntry(chunk_id=r.chunk_id, doc_id=r.doc_id, score=r.score)
            for r in answer.retrieval
        ],
        cited=[c.chunk_id for c in answer.citations],
        citations=[CitedEntry.of(c) for c in answer.citations],
        composer=versions.composer,
        model=versions.model,
        fallback=answer.fallback,
        index_manifest=versions.index_manifest,
        corpus_hash=versions.corpus_hash,
        embedding_model=versions.embedding_model,
        app_version=versions.app,
        guards=answer.guards,
        timings=answer.timings,
    )


class SectionEntry(BaseModel):
    heading: str
    behaviour: str


class InformRecord(BaseModel):
    """What is kept about one inform draft (kind `inform`): its sections' outcomes and trace
    ids (each section's answer is traceable through them) and the cited passages."""

    endpoint: str = "inform"
    topic: str = Field(description="The topic, personal data redacted.")
    filters: Filters | None = None
    behaviour: str
    sections: list[SectionEntry]
    section_trace_ids: list[str]
    cited: list[str]
    versions: Versions | None = None
    timings: dict[str, float]


def inform_record(
    draft: InformDraft, *, topic: str, filters: Filters | None, took_ms: float
) -> InformRecord:
    return InformRecord(
        topic=redact(topic),
        filters=filters if filters is not None and not filters.is_empty() else None,
        behaviour=draft.behaviour,
        sections=[SectionEntry(heading=s.heading, behaviour=s.behaviour) for s in draft.sections],
        section_trace_ids=draft.section_trace_ids,
        cited=[c.chunk_id for c in draft.citations],
        versions=draft.versions,
        timings={"total": took_ms},
    )
