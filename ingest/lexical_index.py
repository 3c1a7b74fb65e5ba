"""Build and save the BM25 index over the chunk store (the retriever loads it once)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from common.lexical import tokenize
from common.schema import Chunk


def lexical_text(chunk: Chunk) -> str:
    """What keyword search sees: the passage plus its document title and section path."""
    return f"{chunk.doc.title}\n{chunk.section_path}\n{chunk.text}"


def build_bm25(chunks: list[Chunk], target: Path) -> int:
    """Write the index to `target` atomically (a reader never sees a half-written index)."""
    import bm25s

    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ids = [c.id for c in chunks]
    if chunks:
        retriever = bm25s.BM25()
        retriever.index([tokenize(lexical_text(c)) for c in chunks], show_progress=False)
        retriever.save(str(tmp / "bm25s"))
    (tmp / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return len(ids)
