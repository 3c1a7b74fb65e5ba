"""Request and response models of the native /v1 API (the OpenAI-compatible ones live in
api/openai_compat.py). Answers themselves are `rag.answer.Answer`, unchanged."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from api.answer_record import CitedEntry
from common.hygiene import CleanStr
from index.schema import Filters
from rag.answer import Passage, Turn
from rag.guards import MAX_QUESTION_CHARS

MAX_HISTORY_ITEMS = 50


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("the text is empty once invisible characters are removed")
    return value


# Every incoming string is CleanStr (common/hygiene.py): a lone surrogate is 422, the rest is
# NFKC-normalised without invisible or bidi characters before a guard or a log line sees it.
# TextQuery must also hold something visible after that cleaning.
TextQuery = Annotated[CleanStr, AfterValidator(_not_blank)]
EXAMPLE_QUESTION = "What is the maximum Union contribution for the EMN work programme 2026-2027?"


class AskRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"question": EXAMPLE_QUESTION},
                {
                    "question": "And how is it split between the two years?",
                    "history": [
                        {"role": "user", "content": "What is the EMN budget for 2026-2027?"},
                        {"role": "assistant", "content": "EUR 28 200 000 [1]."},
                    ],
                    "filters": {"doc_ids": ["emn-work-programme-2026-2027"]},
                    "composer": "extractive",
                },
            ]
        }
    )

    question: TextQuery = Field(
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        pattern=r"\S",
        description=f"The question (at most {MAX_QUESTION_CHARS} characters; longer is 422).",
        examples=[EXAMPLE_QUESTION],
    )
    history: list[Turn] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_ITEMS,
        description="Earlier turns of the conversation, oldest first (for follow-ups).",
    )
    filters: Filters | None = Field(default=None, description="Restrict retrieval.")
    composer: Literal["extractive", "llm"] | None = Field(
        default=None, description="Default: the server's EMN_COMPOSER."
    )


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"query": "return and readmission", "k": 5},
                {"query": "EMN budget", "filters": {"kinds": ["work programme"]}, "k": 3},
            ]
        }
    )

    query: TextQuery = Field(
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        pattern=r"\S",
        description="Search text.",
        examples=["return and readmission"],
    )
    filters: Filters | None = None
    k: int = Field(default=10, ge=1, le=50, description="Number of passages.")


class SearchHit(Passage):
    """A passage found for the query, with its scores; superseded documents rank lower."""

    url: str = Field(description="Where to open the passage: the API's chunk URL.")
    rank: int
    text: str
    score: float = Field(description="Final hybrid score (higher is better).")
    dense_score: float = Field(description="Cosine similarity of the passage to the query.")
    lexical_score: float = Field(description="BM25 score (0 when no keyword matched).")
    dense_rank: int | None = None
    lexical_rank: int | None = None
    kind: str = ""
    date: str = ""
    superseded_by: str = Field(default="", description="The document that replaces this one.")


class SearchResponse(BaseModel):
    query: str
    results: list[SearchHit]
    took_ms: float


class DocumentInfo(BaseModel):
    id: str
    title: str
    reference: str = ""
    date: str = ""
    kind: str = ""
    language: str = ""
    status: str = Field(
        default="",
        description="in_force, proposal, informative, superseded, or 'unverified' (no catalog "
        "entry: its origin was not checked; ranked below catalogued sources).",
    )
    superseded_by: str = ""
    source_url: str = Field(default="", description="Where the original was published.")
    source_file: str = ""
    sha256: str = ""
    catalogued: bool = Field(default=True, description="Whether a catalog entry vouches for it.")
    chunks: int = Field(description="Number of passages in the index.")
    chunks_url: str


class DocumentList(BaseModel):
    documents: list[DocumentInfo]
    index_manifest: str = Field(description="Hash of the index manifest.")
    corpus_hash: str


class ChunkInfo(BaseModel):
    chunk_id: str
    doc_id: str
    ordinal: int
    section_path: str = ""
    page: int | None = None
    page_end: int | None = None
    text: str
    footnotes: list[str] = Field(default_factory=list)
    block: str = "text"
    url: str


class DocumentChunks(BaseModel):
    document: DocumentInfo
    chunks: list[ChunkInfo]
    total: int
    offset: int
    limit: int


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "trace_id": "60507ab03f87452f9cf3a0c69e531355",
                    "rating": "down",
                    "comment": "The second sentence cites the wrong year.",
                },
                {
                    "trace_id": "60507ab03f87452f9cf3a0c69e531355",
                    "rating": "down",
                    "report": True,
                    "comment": "This reads like advice on an individual case.",
                },
            ]
        }
    )

    trace_id: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Answer's trace id."
    )
    rating: Literal["up", "down"]
    comment: CleanStr = Field(default="", max_length=4000, description="Redacted before storage.")
    report: StrictBool = Field(
        default=False,
        description="Report the answer to a human reviewer (wrong, harmful, advice on an "
        "individual case...): it enters the review queue, as a 'down' rating does.",
    )


class FeedbackReceipt(BaseModel):
    id: int
    trace_id: str
    rating: Literal["up", "down"]
    report: bool = False
    created_at: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    uptime_s: float


class Check(BaseModel):
    ok: bool
    detail: str = Field(default="", description="Admin keys only (auth mode 'keys').")


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Check]
    manifest: dict[str, Any] | None = Field(
        default=None,
        description="Index manifest: corpus hash, model, counts, build time (admin keys only "
        "in auth mode 'keys').",
    )
    generation: Literal["on", "off"]
    auth_mode: str | None = Field(
        default=None, description="'open' or 'keys' (admin keys only in auth mode 'keys')."
    )
    error: dict[str, str] | None = Field(
        default=None, description="When not ready: code, message and trace id."
    )


class ProvenanceCheck(BaseModel):
    valid: bool = Field(description="True when the JSON is unaltered and signed by this service.")
    reason: str = Field(
        examples=["unaltered: signed by this service", "the answer text was altered"]
    )
    kind: Literal["answer", "inform"] = Field(
        default="answer", description="What was checked: an answer or an inform draft."
    )


# --- review queue (Art. 14 human oversight) -------------------------------------------------


class ReviewCitation(CitedEntry):
    """A recorded citation with its passage, so the reviewer reads what the user read."""

    quote: str = Field(
        default="", description="The cited passage from the index ('' if no longer indexed)."
    )


class ReviewFeedback(BaseModel):
    created_at: str
    rating: Literal["up", "down"]
    report: bool = False
    comment: str = Field(default="", description="The user's comment, personal data redacted.")


class ReviewItem(BaseModel):
    trace_id: str
    kind: Literal["answer", "inform"] = "answer"
    endpoint: str = ""
    answered_at: str
    question: str = Field(description="The question (inform: the topic), personal data redacted.")
    answer: str = Field(description="The answer text as it was returned (redacted).")
    behaviour: str = ""
    confidence: float | None = None
    composer: str = ""
    model: str = ""
    index_manifest: str = ""
    citations: list[ReviewCitation] = Field(default_factory=list)
    feedback: list[ReviewFeedback] = Field(default_factory=list)
    flagged: bool = Field(description="A user rated it down or reported it.")
    flagged_at: str | None = None
    status: Literal["open", "reviewed", "not_flagged"] = Field(
        description="open: flagged and not reviewed since the latest flag; reviewed: a verdict "
        "since; not_flagged: nobody flagged it and no reviewer has judged it."
    )
    verdict: Literal["right", "wrong"] | None = None
    review_note: str = ""
    reviewed_at: str | None = None
    erased: bool = Field(default=False, description="Personal fields erased on request.")


class ReviewQueue(BaseModel):
    items: list[ReviewItem]
    open: int = Field(description="Flagged answers awaiting review (all, not only this page).")
    total: int = Field(description="Flagged answers matching the status filter.")


class ReviewRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"verdict": "wrong", "note": "Sentence 2 cites the 2021 programme, not 2026."},
                {"verdict": "right", "note": ""},
            ]
        }
    )

    verdict: Literal["right", "wrong"]
    note: CleanStr = Field(default="", max_length=4000, description="Redacted before storage.")


class GenerationSwitch(BaseModel):
    enabled: StrictBool = Field(
        description="False: search-and-quote only (no generative model); JSON true or false "
        "only (0, 1 and strings are 422)."
    )
