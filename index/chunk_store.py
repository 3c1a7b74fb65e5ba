"""The chunk store: every chunk's text and metadata, and its sentences with their vectors.

SQLite beside the Chroma data. Retrieval loads it once per process (lexical search, sentence
selection, opening a citation) instead of asking Chroma for texts on every question.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from index.schema import Chunk

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, ordinal);
CREATE TABLE IF NOT EXISTS sentences (
    chunk_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (chunk_id, idx)
);
-- The sentences' vectors from the multilingual model (same spans as `sentences`).
CREATE TABLE IF NOT EXISTS ml_sentences (
    chunk_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (chunk_id, idx)
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    source_file TEXT NOT NULL,
    chunker_version TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    meta TEXT NOT NULL
);
"""


class StoredDocument(BaseModel):
    doc_id: str
    sha256: str
    source_file: str
    chunker_version: str
    chunk_ids: list[str]
    meta: dict


class ChunkStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            yield self._db

    # --- chunks -------------------------------------------------------------------------
    def chunk_ids(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT id FROM chunks")}

    def put_chunks(
        self,
        chunks: Iterable[Chunk],
        sentences: dict[str, list[tuple[int, int]]],
        vectors: dict[str, np.ndarray],
    ) -> None:
        """Store chunks with their sentence spans and sentence vectors, atomically."""
        with self._db:
            for chunk in chunks:
                self._db.execute(
                    "INSERT OR REPLACE INTO chunks(id, doc_id, ordinal, body) VALUES (?,?,?,?)",
                    (chunk.id, chunk.doc.doc_id, chunk.ordinal, chunk.model_dump_json()),
                )
                self._db.execute("DELETE FROM sentences WHERE chunk_id = ?", (chunk.id,))
                self._db.execute("DELETE FROM ml_sentences WHERE chunk_id = ?", (chunk.id,))
                spans = sentences.get(chunk.id, [])
                matrix = vectors.get(chunk.id)
                for idx, (start, end) in enumerate(spans):
                    blob = matrix[idx].astype(np.float32).tobytes() if matrix is not None else b""
                    self._db.execute(
                        "INSERT INTO sentences(chunk_id, idx, start, end, vector) "
                        "VALUES (?,?,?,?,?)",
                        (chunk.id, idx, start, end, blob),
                    )

    def delete_chunks(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        with self._db:
            for i in range(0, len(ids), 500):
                batch = ids[i : i + 500]
                marks = ",".join("?" * len(batch))
                self._db.execute(f"DELETE FROM chunks WHERE id IN ({marks})", batch)
                self._db.execute(f"DELETE FROM sentences WHERE chunk_id IN ({marks})", batch)
                self._db.execute(f"DELETE FROM ml_sentences WHERE chunk_id IN ({marks})", batch)

    def iter_chunks(self) -> Iterator[Chunk]:
        for (body,) in self._db.execute("SELECT body FROM chunks ORDER BY doc_id, ordinal"):
            yield Chunk.model_validate_json(body)

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        rows = self._db.execute(
            "SELECT body FROM chunks WHERE doc_id = ? ORDER BY ordinal", (doc_id,)
        )
        return [Chunk.model_validate_json(body) for (body,) in rows]

    def count(self) -> tuple[int, int]:
        chunks = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        sentences = self._db.execute("SELECT COUNT(*) FROM sentences").fetchone()[0]
        return int(chunks), int(sentences)

    def load_sentences(self, dimension: int) -> dict[str, tuple[list[tuple[int, int]], np.ndarray]]:
        """Per chunk: sentence spans and a (n, dimension) matrix of their unit vectors."""
        out: dict[str, tuple[list[tuple[int, int]], list[np.ndarray]]] = {}
        rows = self._db.execute(
            "SELECT chunk_id, start, end, vector FROM sentences ORDER BY chunk_id, idx"
        )
        for chunk_id, start, end, blob in rows:
            spans, vecs = out.setdefault(chunk_id, ([], []))
            spans.append((start, end))
            vecs.append(
                np.frombuffer(blob, dtype=np.float32)
                if blob
                else np.zeros(dimension, dtype=np.float32)
            )
        return {cid: (spans, np.vstack(vecs)) for cid, (spans, vecs) in out.items()}

    # --- multilingual sentence vectors -------------------------------------------------
    def multilingual_chunk_ids(self) -> set[str]:
        """Chunks whose sentences have multilingual vectors (a chunk without sentences has
        none and is never listed: callers compare with chunks that have sentences)."""
        return {row[0] for row in self._db.execute("SELECT DISTINCT chunk_id FROM ml_sentences")}

    def sentence_spans(self) -> dict[str, list[tuple[int, int]]]:
        out: dict[str, list[tuple[int, int]]] = {}
        rows = self._db.execute("SELECT chunk_id, start, end FROM sentences ORDER BY chunk_id, idx")
        for chunk_id, start, end in rows:
            out.setdefault(chunk_id, []).append((start, end))
        return out

    def put_multilingual(self, vectors: dict[str, np.ndarray]) -> None:
        """Multilingual vectors of each chunk's sentences, in sentence order, atomically."""
        with self._db:
            for chunk_id, matrix in vectors.items():
                self._db.execute("DELETE FROM ml_sentences WHERE chunk_id = ?", (chunk_id,))
                self._db.executemany(
                    "INSERT INTO ml_sentences(chunk_id, idx, vector) VALUES (?,?,?)",
                    [
                        (chunk_id, idx, row.astype(np.float32).tobytes())
                        for idx, row in enumerate(matrix)
                    ],
                )

    def clear_multilingual(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM ml_sentences")

    def load_multilingual(self) -> dict[str, np.ndarray]:
        """Per chunk: the (n, dimension) matrix of its sentences' multilingual unit vectors."""
        out: dict[str, list[np.ndarray]] = {}
        rows = self._db.execute("SELECT chunk_id, vector FROM ml_sentences ORDER BY chunk_id, idx")
        for chunk_id, blob in rows:
            out.setdefault(chunk_id, []).append(np.frombuffer(blob, dtype=np.float32))
        return {cid: np.vstack(vecs) for cid, vecs in out.items()}

    # --- documents ----------------------------------------------------------------------
    def documents(self) -> dict[str, StoredDocument]:
        rows = self._db.execute(
            "SELECT doc_id, sha256, source_file, chunker_version, chunk_ids, meta FROM documents"
        )
        return {
            r[0]: StoredDocument(
                doc_id=r[0],
                sha256=r[1],
                source_file=r[2],
                chunker_version=r[3],
                chunk_ids=json.loads(r[4]),
                meta=json.loads(r[5]),
            )
            for r in rows
        }

    def put_document(self, doc: StoredDocument) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?)",
                (
                    doc.doc_id,
                    doc.sha256,
                    doc.source_file,
                    doc.chunker_version,
                    json.dumps(doc.chunk_ids),
                    json.dumps(doc.meta),
                ),
            )

    def delete_document(self, doc_id: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
