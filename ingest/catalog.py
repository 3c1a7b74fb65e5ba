"""The corpus catalog (corpus/catalog.json): what ingestion knows about each document beyond
its bytes, and the files' hashes it is checked against."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

DocStatus = Literal["in_force", "proposal", "superseded", "informative"]


class CatalogEntry(BaseModel):
    """One document of the corpus catalog (corpus/catalog.json)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,80}$")
    title: str
    reference: str = ""
    date: str = Field(default="", description="ISO date (YYYY-MM-DD) or empty when undated.")
    kind: str = "document"
    language: str = "en"
    source: str = Field(default="", description="Where the original was published.")
    url: str = ""
    licence: str = ""
    file: str = Field(description="Path relative to the catalog's folder.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    status: DocStatus = "in_force"
    superseded_by: str = ""


class Catalog(BaseModel):
    documents: list[CatalogEntry]

    @classmethod
    def load(cls, path: Path) -> Catalog:
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))

    def by_file(self) -> dict[str, CatalogEntry]:
        return {entry.file: entry for entry in self.documents}


def file_sha256(path: Path) -> str:
    """What the catalog records for a file; a document is re-read when it changes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
