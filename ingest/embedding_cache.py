"""Content-hash cache of vectors: embedding is the slow part of ingestion (about 10 passages/s
on two cores), so no text is embedded twice, and an ingest killed half-way resumes where it
stopped."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.schema import text_hash

if TYPE_CHECKING:
    from common.settings import Settings


# One table, the same in an index's cache and in the shipped vectors (ingest/seed_vectors.py).
VECTORS_TABLE = (
    "CREATE TABLE IF NOT EXISTS vectors (model TEXT, sha TEXT, vector BLOB, "
    "PRIMARY KEY (model, sha))"
)


class EmbeddingCache:
    """An index's vectors by model and text hash. `seed`: a read-only cache of the same form
    (the default corpus's vectors, shipped with the code) consulted for what this one lacks;
    what it gives is copied here, so the index's cache stays complete on its own."""

    def __init__(self, path: Path, model_id: str, seed: Path | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(VECTORS_TABLE)
        self.model_id = model_id
        self._seed = None
        if seed is not None and seed.is_file() and seed.resolve() != path.resolve():
            self._seed = sqlite3.connect(f"file:{seed}?mode=ro&immutable=1", uri=True)

    def close(self) -> None:
        self._db.close()
        if self._seed is not None:
            self._seed.close()

    def get_many(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors keyed by text hash (from the seed where this cache lacks them)."""
        hashes = list({text_hash(t) for t in texts})
        found = _lookup(self._db, self.model_id, hashes)
        if self._seed is not None and len(found) < len(hashes):
            seeded = _lookup(self._seed, self.model_id, [h for h in hashes if h not in found])
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?,?,?)",
                    [(self.model_id, sha, v.tobytes()) for sha, v in seeded.items()],
                )
            found.update(seeded)
        return found

    def embed(
        self,
        texts: list[str],
        embed_batch: Callable[[list[str]], np.ndarray],
        batch_size: int,
        on_progress: Callable[[int], None] | None = None,
    ) -> tuple[dict[str, np.ndarray], int]:
        """Vectors for all `texts` (by hash), embedding only unseen ones; each batch is committed
        as soon as it is computed. Returns (vectors, number embedded now)."""
        vectors = self.get_many(texts)
        missing = list(dict.fromkeys(t for t in texts if text_hash(t) not in vectors))
        # Similar lengths together: padding is wasted work.
        missing.sort(key=len)
        for i in range(0, len(missing), batch_size):
            batch = missing[i : i + batch_size]
            matrix = embed_batch(batch)
            with self._db:
                for text, vector in zip(batch, matrix, strict=True):
                    sha = text_hash(text)
                    vectors[sha] = vector
                    self._db.execute(
                        "INSERT OR REPLACE INTO vectors VALUES (?,?,?)",
                        (self.model_id, sha, vector.astype(np.float32).tobytes()),
                    )
            if on_progress:
                on_progress(len(batch))
        return vectors, len(missing)


def _lookup(db: sqlite3.Connection, model_id: str, hashes: list[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for i in range(0, len(hashes), 500):
        batch = hashes[i : i + 500]
        marks = ",".join("?" * len(batch))
        rows = db.execute(
            f"SELECT sha, vector FROM vectors WHERE model = ? AND sha IN ({marks})",
            [model_id, *batch],
        )
        for sha, blob in rows:
            found[sha] = np.frombuffer(blob, dtype=np.float32)
    return found


def seed_path(settings: Settings) -> Path | None:
    """The shipped vectors (`EMN_SEED_VECTORS`), or None when turned off."""
    return Path(settings.seed_vectors) if settings.seed_vectors else None
