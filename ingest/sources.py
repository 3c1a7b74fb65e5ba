"""What to ingest: the catalog's documents, the corpus folder, and any paths given."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ingest.catalog import Catalog, CatalogEntry

CATALOG_FILE = "catalog.json"


class Source(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    doc_id: str
    entry: CatalogEntry | None = None


class CatalogError(ValueError):
    """The catalog file is unreadable or invalid."""


def slug(text: str) -> str:
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (value or "document")[:60].strip("-")


def load_catalog(corpus_dir: Path) -> Catalog | None:
    path = corpus_dir / CATALOG_FILE
    if not path.exists():
        return None
    try:
        return Catalog.load(path)
    except Exception as exc:
        raise CatalogError(f"{path}: invalid catalog ({exc})") from exc


def _walk(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.name != CATALOG_FILE
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def discover(corpus_dir: Path | None, extra: list[Path]) -> tuple[list[Source], list[str]]:
    """Sources in a stable order, plus warnings (missing files, paths that do not exist)."""
    warnings: list[str] = []
    sources: list[Source] = []
    seen_paths: set[Path] = set()
    used_ids: set[str] = set()

    def add(path: Path, entry: CatalogEntry | None) -> None:
        resolved = path.resolve()
        if resolved in seen_paths:
            return
        seen_paths.add(resolved)
        doc_id = entry.id if entry else slug(path.stem)
        if doc_id in used_ids:
            doc_id = f"{doc_id}-{hashlib.sha1(str(resolved).encode()).hexdigest()[:6]}"
        used_ids.add(doc_id)
        sources.append(Source(path=resolved, doc_id=doc_id, entry=entry))

    def add_catalogued(folder: Path) -> None:
        catalog = load_catalog(folder)
        entries = catalog.by_file() if catalog else {}
        for file, entry in entries.items():
            target = folder / file
            if target.exists():
                add(target, entry)
            else:
                warnings.append(f"{target}: listed in {CATALOG_FILE} but missing; skipped")

    if corpus_dir is not None and corpus_dir.exists():
        add_catalogued(corpus_dir)
        for path in _walk(corpus_dir):
            add(path, None)
    for raw in extra:
        path = raw.expanduser()
        if not path.exists():
            warnings.append(f"{path}: no such file or folder")
            continue
        if path.is_dir():
            # A folder with its own catalog (e.g. a development corpus) keeps its metadata.
            add_catalogued(path)
        for file in _walk(path):
            add(file, None)
    return sources, warnings
