"""Choose a loader by file type; every loader returns the same neutral blocks."""

from __future__ import annotations

from pathlib import Path

from ingest.blocks import Block, LoadError
from ingest.loaders.html import load_html_file
from ingest.loaders.pdf import load_pdf_file
from ingest.loaders.text import load_text_file

SUPPORTED_SUFFIXES = (".pdf", ".html", ".htm", ".md", ".markdown", ".txt")


def load_document(path: Path) -> tuple[str, list[Block]]:
    """(title found in the file, or '', blocks); raises LoadError with a plain reason."""
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise LoadError("empty file")
    if suffix == ".pdf":
        return "", load_pdf_file(path)
    if suffix in (".html", ".htm"):
        return load_html_file(path)
    if suffix in (".md", ".markdown", ".txt"):
        return "", load_text_file(path)
    raise LoadError(
        f"unsupported file type {suffix or '(none)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
    )
