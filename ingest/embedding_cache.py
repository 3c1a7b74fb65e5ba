"""Content-hash cache of vectors: embedding is the slow part of ingestion (about 10 passages/s
on two cores), so no text is embedded twice, and an ingest killed half-way resumes where it
stopped."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

from index.schema import text_hash


class EmbeddingCache:
    def __init__(self, path: Path, model_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, sha TEXT, vector BLOB, "
            "PRIMARY KEY (model, sha))"
        )
        self.model_id = model_id

    def close(self) -> None:
        self._db.close()

    def get_many(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors keyed by text hash."""
        hashes = list({text_hash(t) for t in texts})
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 500):
            batch = hashes[i : i + 500]
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(
                f"SELECT sha, vector FROM vectors WHERE model = ? AND sha IN ({marks})",
                [self.model_id, *batch],
            )
            for sha, blob in rows:
                found[sha] = np.frombuffer(blob, dtype=np.float32)
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
