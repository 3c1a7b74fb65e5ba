"""Request and response models of the native /v1 API (the OpenAI-compatible ones live in
api/openai_compat.py). Answers themselves are `rag.answer.Answer`, unchanged."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.answer import Filters, Turn
from rag.guards import MAX_QUESTION_CHARS

MAX_HISTORY_ITEMS = 50
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

    question: str = Field(
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

    query: str = Field(
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        pattern=r"\S",
        description="Search text.",
        examples=["return and readmission"],
    )
    filters: Filters | None = None
    k: int = Field(default=10, ge=1, le=50, description="Number of passages.")


class SearchHit(BaseModel):
    rank: int
    chunk_id: str
    doc_id: str
    title: str
    reference: str = ""
    section_path: str = ""
    page: int | None = None
    text: str
    score: float = Field(description="Final hybrid score (higher is better).")
    dense_score: float = Field(description="Cosine similarity of the passage to the query.")
    lexical_score: float = Field(description="BM25 score (0 when no keyword matched).")
    dense_rank: int | None = None
    lexical_rank: int | None = None
    kind: str = ""
    date: str = ""
    url: str = Field(description="Where to open the passage.")


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
    status: str = ""
    superseded_by: str = ""
    source_url: str = Field(default="", description="Where the original was published.")
    source_file: str = ""
    sha256: str = ""
    catalogued: bool = True
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
                }
            ]
        }
    )

    trace_id: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Answer's trace id."
    )
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=4000, description="Redacted before storage.")


class FeedbackReceipt(BaseModel):
    id: int
    trace_id: str
    rating: Literal["up", "down"]
    created_at: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    uptime_s: float


class Check(BaseModel):
    ok: bool
    detail: str = ""


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Check]
    manifest: dict[str, Any] | None = Field(
        default=None, description="Index manifest: corpus hash, model, counts, build time."
    )
    generation: Literal["on", "off"]
    auth_mode: str
    error: dict[str, str] | None = Field(
        default=None, description="When not ready: code, message and trace id."
    )


class GenerationSwitch(BaseModel):
    enabled: bool = Field(description="False: search-and-quote only (no generative model).")
