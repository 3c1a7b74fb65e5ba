"""The one rule from an indexed passage to what the user is shown about it: the passage's
fields, the URL that opens it and its status text. The pipeline's citations, search hits,
the document catalog and the review queue all use it.

The URLs are final when they are built here: an answer's provenance signature covers its
citations, so nothing downstream may rewrite them. With EMN_API_PUBLIC_URL set it is absolute
under that base, otherwise API-relative. `source_url` is the original publication's public address
(rag/source_link.py), for readers outside the service.
"""

from __future__ import annotations

from typing import Any

from common.settings import Settings
from index.schema import Chunk, DocumentMeta
from rag.answer import Citation
from rag.source_link import public_source_url


def public_base(settings: Settings) -> str:
    """The base of the URLs handed out: EMN_API_PUBLIC_URL without a trailing slash, or ''."""
    return settings.api_public_url.rstrip("/")


def chunks_url(base: str, doc_id: str) -> str:
    """A document's passages in order (the API's `GET /v1/documents/{doc_id}/chunks`)."""
    return f"{base}/v1/documents/{doc_id}/chunks"


def chunk_url(base: str, chunk: Chunk) -> str:
    """Where to open one passage: its document's passages, anchored at it."""
    return f"{chunks_url(base, chunk.doc.doc_id)}#{chunk.id}"


def status_text(doc: DocumentMeta) -> str:
    """The status shown with a passage: a superseded document names its replacement."""
    return f"superseded by {doc.superseded_by}" if doc.superseded_by else doc.status


def passage_fields(chunk: Chunk, base: str) -> dict[str, Any]:
    """The `rag.answer.Passage` fields of an indexed chunk, with its document's kind and date
    (which citations and search hits show)."""
    doc = chunk.doc
    return {
        "chunk_id": chunk.id,
        "doc_id": doc.doc_id,
        "title": doc.title,
        "reference": doc.reference,
        "section_path": chunk.section_path,
        "page": chunk.page,
        "url": chunk_url(base, chunk),
        "source_url": public_source_url(doc.url, chunk.section_path, chunk.page),
        "status": status_text(doc),
        "kind": doc.kind,
        "date": doc.date,
    }


def citation(marker: int, chunk: Chunk, base: str) -> Citation:
    """The citation behind the answer's [marker], quoting the whole passage."""
    return Citation(marker=marker, quote=chunk.text, **passage_fields(chunk, base))
