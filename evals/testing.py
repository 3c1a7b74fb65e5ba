"""Helpers for tests that evaluate against a real index built in a temporary folder.

Embedding is the slow part of ingestion; vectors depend only on the model and the text, so a
test index starts from a copy of the default index's embedding cache when there is one, and
ingestion then embeds only what is new. The index built is the same either way.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from common.settings import PROJECT_ROOT, Settings, load_settings
from index.schema import IndexPaths

__all__ = ["build_index", "seed_embedding_cache"]


def _copy_sqlite(source: Path, dest: Path) -> bool:
    """SQLite's backup: a consistent copy even while another process writes the source."""
    if not source.exists() or dest.exists():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src,
            sqlite3.connect(dest) as out,
        ):
            src.backup(out)
    except sqlite3.Error:
        dest.unlink(missing_ok=True)
        return False
    return True


def seed_embedding_cache(target: Settings, source_index: Path | None = None) -> bool:
    """Copy the vectors already computed for `source_index` (default: the configured index),
    for ingestion and for the baseline, into `target`'s caches."""
    from evals.baseline import cache_path_for

    source = load_settings(index_dir=source_index) if source_index else load_settings()
    copied = _copy_sqlite(
        IndexPaths(source.index_dir).embedding_cache, IndexPaths(target.index_dir).embedding_cache
    )
    _copy_sqlite(cache_path_for(source), cache_path_for(target))
    return copied


def build_index(index_dir: Path, corpus_dir: Path | None = None, **overrides: object) -> Settings:
    """Ingest `corpus_dir` (default: the project's corpus) into a new index at `index_dir`."""
    from ingest.pipeline import run_ingest

    settings = load_settings(
        index_dir=index_dir,
        corpus_dir=corpus_dir or PROJECT_ROOT / "corpus",
        chroma_mode="embedded",
        **overrides,
    )
    seed_embedding_cache(settings)
    report = run_ingest(settings, progress=False)
    if not report.ok:
        failed = "; ".join(f"{r.file}: {r.error}" for r in report.failed)
        raise RuntimeError(f"ingestion failed: {failed}")
    return settings
