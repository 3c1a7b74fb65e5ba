"""The default corpus's vectors, shipped with the code (`ingest/corpus_vectors.sqlite`,
`EMN_SEED_VECTORS`): embedding is the slow part of a first ingest (corpus/ with both models:
about 1,900 texts, a minute and a half on two cores), and every fresh install, CI run and
test session would otherwise compute the same vectors again. An ingest uses a shipped vector
only for the same model and the same text (by hash), so it can skip work, never change a
result.

`python -m ingest.seed_vectors` rewrites the file after corpus/, the chunking or a model
changes: it ingests corpus/ into a temporary index (embedding only what the old file lacks)
and keeps that index's vectors, nothing else. A test fails while the file misses a vector.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
from pathlib import Path

from common.settings import Settings
from ingest.embedding_cache import VECTORS_TABLE


def write_seed(settings: Settings, out: Path) -> tuple[int, int]:
    """Rewrite `out` with exactly the vectors an ingest of `settings.corpus_dir` needs;
    (vectors written, texts embedded to write them)."""
    from ingest.pipeline import run_ingest

    with tempfile.TemporaryDirectory(prefix="emn-seed-") as tmp:
        # The file in use (normally `out` itself) spares embedding what it already holds.
        temp = settings.model_copy(update={"index_dir": Path(tmp) / "index",
                                           "chroma_mode": "embedded"})  # fmt: skip
        report = run_ingest(temp, progress=True)
        if not report.ok:
            raise SystemExit(report.render())
        cache = Path(tmp) / "index" / "embedding-cache.sqlite"
        written = Path(tmp) / "seed.sqlite"
        db = sqlite3.connect(str(written))
        try:
            db.execute(f"ATTACH DATABASE '{cache}' AS cache")
            db.execute(VECTORS_TABLE)
            db.execute("INSERT INTO vectors SELECT * FROM cache.vectors ORDER BY model, sha")
            db.commit()
            db.execute("DETACH DATABASE cache")
            count = db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            db.execute("VACUUM")
        finally:
            db.close()
        shutil.move(written, out)
    return count, report.texts_embedded + report.multilingual_texts_embedded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.seed_vectors",
        description="Rewrite the shipped vectors of the default corpus (EMN_SEED_VECTORS).",
    )
    parser.parse_args(argv)
    settings = Settings()
    if not settings.seed_vectors:
        parser.error("EMN_SEED_VECTORS is empty: say where to write the file")
    out = Path(settings.seed_vectors)
    count, embedded = write_seed(settings, out)
    print(f"wrote {count} vectors to {out} ({embedded} texts embedded now)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
