"""The index's format: chunks, the manifest, the folder layout, and the filters a search
applies to the documents' metadata. Ingestion writes it, retrieval reads it.

A chunk is the unit that is embedded, indexed lexically and cited. Its id is a content hash, so
re-ingesting the same text yields the same id (idempotent, incremental ingestion).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.hygiene import CleanStr

CHUNKER_VERSION = "6"
SECTION_SEPARATOR = " > "
# The status of a document no catalog entry vouches for: whatever it says about itself, nobody
# checked its origin, so it is never presented as law in force.
UNVERIFIED = "unverified"


class DocumentMeta(BaseModel):
    """What every chunk of a document carries about the document."""

    doc_id: str
    title: str
    reference: str = ""
    date: str = ""
    kind: str = "document"
    language: str = "en"
    url: str = ""
    source_file: str = ""
    sha256: str = ""
    status: str = "in_force"
    superseded_by: str = ""
    catalogued: bool = True

    @model_validator(mode="after")
    def _uncatalogued_is_unverified(self) -> DocumentMeta:
        """Only a catalog entry can give a status; this also corrects chunks stored by
        versions that gave uncatalogued files the default `in_force`."""
        if not self.catalogued:
            self.status = UNVERIFIED
        return self

    @property
    def unverified(self) -> bool:
        return self.status == UNVERIFIED

    @property
    def superseded(self) -> bool:
        """Replaced by another document: it ranks, and is quoted, after its replacement."""
        return self.status == "superseded" or bool(self.superseded_by)


class Chunk(BaseModel):
    id: str
    doc: DocumentMeta
    ordinal: int = Field(description="Position of the chunk in its document.")
    text: str
    section_path: str = ""
    page: int | None = Field(default=None, description="First PDF page (1-based) of the chunk.")
    page_end: int | None = None
    char_start: int = 0
    char_end: int = 0
    footnotes: list[str] = Field(default_factory=list)
    block: Literal["text", "table"] = "text"
    chunker_version: str = CHUNKER_VERSION

    def chroma_metadata(self) -> dict[str, Any]:
        """Flat scalar metadata (Chroma accepts no None, lists or nesting)."""
        return {
            "doc_id": self.doc.doc_id,
            "title": self.doc.title,
            "reference": self.doc.reference,
            "date": self.doc.date,
            # Chroma compares numbers only: dates as YYYYMMDD integers (0 = undated).
            "date_num": int(self.doc.date.replace("-", "")) if self.doc.date else 0,
            "kind": self.doc.kind,
            "language": self.doc.language,
            "status": self.doc.status,
            "section_path": self.section_path,
            "page": self.page or 0,
            "ordinal": self.ordinal,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "block": self.block,
            "chunker_version": self.chunker_version,
            "doc_sha256": self.doc.sha256,
        }


class Filters(BaseModel):
    """Restrict retrieval to some documents, kinds or a date range (ISO dates, inclusive).
    An unknown key is refused: a misspelt filter ignored would silently search everything."""

    model_config = ConfigDict(extra="forbid")

    doc_ids: list[CleanStr] = Field(default_factory=list, max_length=200)
    kinds: list[CleanStr] = Field(default_factory=list, max_length=50)
    date_from: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD, a real date."
    )
    date_to: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD, a real date."
    )

    @field_validator("date_from", "date_to")
    @classmethod
    def _real_date(cls, value: str | None) -> str | None:
        """'2026-13-45' has the shape of a date but is none: refused, not read as a number."""
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a calendar date (YYYY-MM-DD)") from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Filters:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is later than date_to")
        return self

    def is_empty(self) -> bool:
        return not (self.doc_ids or self.kinds or self.date_from or self.date_to)


def chunk_id(doc_id: str, section_path: str, text: str, occurrence: int) -> str:
    """Content hash; `occurrence` separates identical passages repeated in one section."""
    payload = "\x1f".join([CHUNKER_VERSION, doc_id, section_path, text, str(occurrence)])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ManifestDocument(BaseModel):
    doc_id: str
    title: str
    file: str
    sha256: str
    chunks: int
    catalogued: bool = True


class Manifest(BaseModel):
    """Describes an index build; the API reports it and every answer carries its hash."""

    corpus_hash: str
    embedding_model: str
    embedding_dimension: int
    chunker_version: str = CHUNKER_VERSION
    collection: str
    chroma_mode: str
    documents: int
    chunks: int
    sentences: int
    multilingual_model: str = Field(
        default="", description="Model of the multilingual vectors; '' when there are none."
    )
    built_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    document_list: list[ManifestDocument] = Field(default_factory=list)

    @property
    def manifest_hash(self) -> str:
        stable = self.model_dump(exclude={"built_at"})
        return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:16]


class IndexPaths:
    """File layout of an index folder."""

    def __init__(self, index_dir: Path) -> None:
        self.root = index_dir
        self.chroma = index_dir / "chroma"
        self.chunk_store = index_dir / "chunks.sqlite"
        self.embedding_cache = index_dir / "embedding-cache.sqlite"
        self.bm25 = index_dir / "bm25"
        self.manifest = index_dir / "manifest.json"
        self.lock = index_dir / ".ingest.lock"

    def read_manifest(self) -> Manifest | None:
        if not self.manifest.exists():
            return None
        return Manifest.model_validate_json(self.manifest.read_text(encoding="utf-8"))

    def write_manifest(self, manifest: Manifest) -> None:
        """Replace the manifest atomically: readers reload when it changes."""
        tmp = self.manifest.with_suffix(".json.tmp")
        tmp.write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(self.manifest)
