"""The `Answer` contract shared by the API, the chat page and the evaluation suites.

Its JSON form is the same everywhere (CLI `--json`, `/v1/ask`, evals): top-level fields
`answer`, `behaviour`, `reason`, `citations`, `confidence`, `trace_id`, `ai_generated`,
`disclosure`, `versions`, `timings`, `retrieval`.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from common.hygiene import CleanStr
from common.texts import text
from rag.provenance import Provenance

Behaviour = Literal["answered", "abstained", "declined"]

# In English; `disclosure(language)` gives it in the question's language.
DISCLOSURE = text("en", "messages", "disclosure")


def disclosure(language: str) -> str:
    return text(language, "messages", "disclosure")


def new_trace_id() -> str:
    return uuid.uuid4().hex


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: CleanStr  # checked and normalised like the question (common/hygiene.py)


class Passage(BaseModel):
    """The fields every view of an indexed passage shares (a citation, a search hit, a
    recorded citation); rag/citation.py fills them from the chunk, each view adds its own."""

    chunk_id: str
    doc_id: str
    title: str
    reference: str = ""
    section_path: str = ""
    page: int | None = None
    url: str = Field(default="", description="Where to open the passage: the API's chunk URL.")
    source_url: str = Field(
        default="",
        description="The original publication's public address (the catalog's url), at the "
        "passage's article (EUR-Lex '#art_N') or page (PDF '#page=N'); empty when the catalog "
        "records none. Exports link here rather than to the API.",
    )
    status: str = Field(
        default="in_force",
        description="The document's status (in_force, proposal, informative, superseded, or "
        "'superseded by DOC_ID'; 'unverified' for a document without a catalog entry: nobody "
        "vouched for its origin, quote it as an unverified source).",
    )


class Citation(Passage):
    marker: int = Field(description="The n of the [n] marker in the answer text.")
    quote: str = Field(description="The cited passage, verbatim from the document.")
    kind: str = ""
    date: str = ""


class RetrievedPassage(BaseModel):
    chunk_id: str
    doc_id: str
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None


class Versions(BaseModel):
    app: str
    composer: str
    model: str = Field(description="Generative model, or 'none' for the extractive composer.")
    embedding_model: str
    index_manifest: str = Field(description="Hash of the index manifest the answer came from.")
    corpus_hash: str
    chunker: str


class GuardVerdict(BaseModel):
    guard: str
    verdict: Literal["pass", "flag", "block"]
    detail: str = ""


class Answer(BaseModel):
    answer: str = Field(description="Answer text with inline [n] citation markers.")
    behaviour: Behaviour
    reason: str = Field(default="", description="Why it abstained or declined; notes otherwise.")
    citations: list[Citation] = Field(default_factory=list)
    confidence: float = Field(ge=0.0, le=1.0)
    trace_id: str = Field(default_factory=new_trace_id)
    ai_generated: bool = True
    disclosure: str = DISCLOSURE
    versions: Versions
    timings: dict[str, float] = Field(
        default_factory=dict, description="Milliseconds per pipeline step, and 'total'."
    )
    retrieval: list[RetrievedPassage] = Field(default_factory=list)
    question: str = Field(default="", description="The question as answered (after rewriting).")
    language: str = Field(
        default="en",
        description="ISO 639-1 code of the question's language (detected); the assistant's "
        "own texts (declines, abstentions, the disclosure) are in it.",
    )
    language_note: str = Field(
        default="",
        description="Set when the answer quotes documents in another language than the "
        "question's: says the quotes are verbatim from the original (in the question's "
        "language).",
    )
    guards: list[GuardVerdict] = Field(default_factory=list)
    fallback: bool = Field(
        default=False, description="True when the configured LLM failed and extractive answered."
    )
    provenance: Provenance | None = Field(
        default=None,
        description="Signed machine-readable marking (AI Act Art. 50(2)); check it with "
        "POST /v1/provenance/verify.",
    )
