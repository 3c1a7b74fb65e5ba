"""The dense half of the index: one way to reach Chroma, embedded or server (the rest of the
code does not care which), and our collection in it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from common.settings import Settings


class ChromaUnavailableError(RuntimeError):
    """Chroma (usually the server) cannot be reached; callers map it to a clear error."""


def chroma_client(settings: Settings) -> Any:
    """A Chroma client for the configured mode; telemetry is always off."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.chroma_mode == "server":
            return chromadb.HttpClient(
                host=settings.chroma_host,
                port=settings.chroma_port,
                ssl=settings.chroma_ssl,
                settings=chroma_settings,
            )
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)
    except Exception as exc:  # chromadb raises several types for connection failures
        where = (
            f"{settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_mode == "server"
            else str(settings.chroma_path)
        )
        raise ChromaUnavailableError(
            f"cannot open Chroma ({settings.chroma_mode}, {where}): {exc}"
        ) from exc


def get_collection(client: Any, name: str, create: bool = False) -> Any:
    """Our collection, cosine space; embeddings are always supplied by us, never by Chroma."""
    if create:
        return client.get_or_create_collection(
            name=name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
    return client.get_collection(name=name, embedding_function=None)


def multilingual_collection(name: str) -> str:
    """The collection of the multilingual vectors beside collection `name`."""
    return f"{name}_ml"


PAGE = 10_000


def _pages(collection: Any, include: list[str]) -> Iterator[dict[str, Any]]:
    """The collection read a page at a time."""
    offset = 0
    while True:
        page = collection.get(include=include, limit=PAGE, offset=offset)
        yield page
        if len(page["ids"]) < PAGE:
            return
        offset += len(page["ids"])


def collection_vectors(collection: Any) -> tuple[list[str], np.ndarray]:
    """Every id and its vector as unit rows, in id order."""
    ids: list[str] = []
    rows: list[np.ndarray] = []
    for page in _pages(collection, ["embeddings"]):
        ids.extend(page["ids"])
        if len(page["ids"]):
            rows.append(np.asarray(page["embeddings"], dtype=np.float32))
    if not ids:
        return [], np.zeros((0, 1), np.float32)
    vectors = np.concatenate(rows)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    order = sorted(range(len(ids)), key=ids.__getitem__)
    return [ids[i] for i in order], vectors[order]


def collection_ids(collection: Any) -> set[str]:
    """Every id in the collection."""
    return {cid for page in _pages(collection, []) for cid in page["ids"]}
