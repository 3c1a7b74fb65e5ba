"""The default corpus's vectors ship with the code (`ingest/corpus_vectors.sqlite`): an
ingest takes a vector from there only for the same model and text, and the file must hold
every vector an ingest of corpus/ needs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import child_env, texts_embedded_for_session_index

from common.settings import PROJECT_ROOT, Settings
from index.schema import text_hash
from ingest.embedding_cache import VECTORS_TABLE, EmbeddingCache


def test_the_shipped_vectors_cover_the_default_corpus(
    default_index_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The session index is a fresh ingest of corpus/ with the shipped file: it embedded
    # nothing. After an edit of corpus/, the chunking or a model: python -m ingest.seed_vectors
    assert texts_embedded_for_session_index(tmp_path_factory) == 0
    assert Path(Settings().seed_vectors) == PROJECT_ROOT / "ingest" / "corpus_vectors.sqlite"


class Embedder:
    """A deterministic stand-in for a model: each text's vector from its length; it counts
    what it was asked to embed."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.array([[len(t), 1.0, 2.0] for t in texts], dtype=np.float32)


def seed_file(path: Path, model: str, vectors: dict[str, list[float]]) -> Path:
    db = sqlite3.connect(str(path))
    db.execute(VECTORS_TABLE)
    db.executemany(
        "INSERT INTO vectors VALUES (?,?,?)",
        [(model, text_hash(t), np.array(v, np.float32).tobytes()) for t, v in vectors.items()],
    )
    db.commit()
    db.close()
    return path


def test_a_seeded_vector_is_taken_and_kept_and_only_the_rest_is_embedded(tmp_path: Path) -> None:
    seed = seed_file(tmp_path / "seed.sqlite", "model-a", {"shipped text": [9.0, 9.0, 9.0]})
    cache = EmbeddingCache(tmp_path / "index" / "cache.sqlite", "model-a", seed)
    embedder = Embedder()
    vectors, embedded = cache.embed(["shipped text", "new text"], embedder, batch_size=8)
    assert embedded == 1 and embedder.seen == ["new text"]
    assert vectors[text_hash("shipped text")].tolist() == [9.0, 9.0, 9.0]
    cache.close()
    # The index's own cache now holds both, without the seed.
    alone = EmbeddingCache(tmp_path / "index" / "cache.sqlite", "model-a")
    assert len(alone.get_many(["shipped text", "new text"])) == 2
    alone.close()


def test_a_seed_of_another_model_or_no_seed_file_embeds_everything(tmp_path: Path) -> None:
    seed = seed_file(tmp_path / "seed.sqlite", "model-b", {"shipped text": [9.0, 9.0, 9.0]})
    for n, source in enumerate((seed, tmp_path / "missing.sqlite", None)):
        cache = EmbeddingCache(tmp_path / f"index-{n}" / "cache.sqlite", "model-a", source)
        embedder = Embedder()
        _, embedded = cache.embed(["shipped text"], embedder, batch_size=8)
        cache.close()
        assert embedded == 1 and embedder.seen == ["shipped text"], source


@pytest.mark.slow
def test_the_command_writes_exactly_the_vectors_an_ingest_of_the_corpus_needs(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.txt").write_text(
        "EMN note\n\nThe network has one contact point in each Member State.\n", "utf-8"
    )
    out = tmp_path / "vectors.sqlite"
    env = child_env({"EMN_CORPUS_DIR": str(corpus), "EMN_SEED_VECTORS": str(out)})

    def write() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "ingest.seed_vectors"],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    first = write()
    db = sqlite3.connect(str(out))
    models = dict(db.execute("SELECT model, COUNT(*) FROM vectors GROUP BY model").fetchall())
    db.close()
    assert len(models) == 2 and len(set(models.values())) == 1  # both models, the same texts
    assert f"wrote {2 * next(iter(models.values()))} vectors" in first
    # Run again: everything comes from the file itself, nothing is embedded.
    assert "(0 texts embedded now)" in write()
