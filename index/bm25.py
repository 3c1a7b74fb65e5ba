"""The keyword half of the index on disk: a bm25s index (`bm25s/`) and the chunk id of each of
its positions (`ids.json`). Ingestion builds it from the chunk store; the reader loads it once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from index.lexical import lexical_text, tokenize
from index.schema import Chunk


def build_bm25(chunks: list[Chunk], target: Path) -> int:
    """Index the chunks' keyword text (`lexical_text`) into `target`; returns their number."""
    write_bm25([tokenize(lexical_text(c)) for c in chunks], [c.id for c in chunks], target)
    return len(chunks)


def write_bm25(corpus_tokens: Any, ids: list[str], target: Path) -> None:
    """Index `corpus_tokens` (a token list per chunk, or bm25s's `Tokenized`; position i is
    chunk `ids[i]`) and write it to `target` atomically (a reader never sees a half-written
    index)."""
    import bm25s

    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if ids:
        retriever = bm25s.BM25()
        retriever.index(corpus_tokens, show_progress=False)
        retriever.save(str(tmp / "bm25s"))
    (tmp / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def read_bm25(source: Path) -> tuple[Any, list[str]]:
    """The loaded `bm25s.BM25` (None when no chunk was indexed) and the chunk id of each of its
    positions."""
    import bm25s

    ids = json.loads((source / "ids.json").read_text(encoding="utf-8"))
    bm25 = bm25s.BM25.load(str(source / "bm25s"), show_progress=False) if ids else None
    return bm25, ids
