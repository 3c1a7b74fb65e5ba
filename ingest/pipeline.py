"""The ingestion job: sources -> blocks -> chunks -> vectors -> Chroma + chunk store + BM25.

Incremental and crash-safe by construction: chunk ids are content hashes; every write is an
upsert; a document's record (its chunk ids) is written only after its chunks; and every run
ends by deleting whatever no document record claims. So a run killed at any point leaves an
index the next run completes, with no duplicate and no orphan.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from tqdm import tqdm

from common.embedding import Embedder, embedder_from_settings
from common.multilingual import MultilingualEmbedder, multilingual_from_settings
from common.sentences import split_sentences
from common.settings import Settings
from index.bm25 import build_bm25
from index.chroma import chroma_client, collection_ids, get_collection, multilingual_collection
from index.chunk_store import ChunkStore, StoredDocument
from index.schema import (
    CHUNKER_VERSION,
    UNVERIFIED,
    Chunk,
    DocumentMeta,
    IndexPaths,
    Manifest,
    ManifestDocument,
    text_hash,
)
from ingest.blocks import Block, LoadError
from ingest.catalog import file_sha256
from ingest.chunking import chunk_blocks
from ingest.embedding_cache import EmbeddingCache, seed_path
from ingest.loaders import load_document
from ingest.sources import Source, discover, shown

CHROMA_BATCH = 500


class IngestBusyError(RuntimeError):
    """Another ingestion holds the index lock."""


class DocumentResult(BaseModel):
    doc_id: str
    file: str
    status: str = Field(description="added | updated | unchanged | failed | refused | removed")
    chunks: int = 0
    error: str = ""


class IngestReport(BaseModel):
    results: list[DocumentResult] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_unchanged: int = 0
    texts_embedded: int = 0
    embedding_seconds: float = 0.0
    multilingual_texts_embedded: int = 0
    multilingual_seconds: float = 0.0
    seconds: float = 0.0
    manifest: Manifest | None = None
    incomplete_metadata: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per file, the provenance fields its catalog entry lacks (data governance).",
    )

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[DocumentResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def refused(self) -> list[DocumentResult]:
        """Files EMN_REQUIRE_CATALOG kept out of the index (no or a stale catalog entry)."""
        return [r for r in self.results if r.status == "refused"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.refused

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_added / self.seconds if self.seconds else 0.0

    def render(self) -> str:
        read = self.count("added") + self.count("updated")
        lines = [
            f"documents: {read} read ({self.count('added')} new, {self.count('updated')} changed),"
            f" {self.count('unchanged')} unchanged (skipped), {len(self.failed)} failed,"
            f" {len(self.refused)} refused, {self.count('removed')} removed",
            f"chunks: {self.chunks_added} added, {self.chunks_removed} removed,"
            f" {self.chunks_unchanged} unchanged",
            f"embedded {self.texts_embedded} new texts in {self.embedding_seconds:.1f} s;"
            f" total {self.seconds:.1f} s, {self.chunks_per_second:.1f} chunks/s",
        ]
        if self.multilingual_texts_embedded:
            lines.append(
                f"multilingual model: embedded {self.multilingual_texts_embedded} new texts in"
                f" {self.multilingual_seconds:.1f} s"
            )
        if self.manifest:
            m = self.manifest
            lines.append(
                f"index: {m.documents} documents, {m.chunks} chunks, {m.sentences} sentences,"
                f" model {m.embedding_model.split('|')[0]}, corpus hash {m.corpus_hash[:12]}"
            )
        if self.incomplete_metadata:
            lines.append(
                "metadata incomplete: "
                + "; ".join(
                    f"{shown(f)} (no {', '.join(m)})" for f, m in self.incomplete_metadata.items()
                )
            )
        lines += [f"warning: {_one_line(w)}" for w in self.warnings]
        lines += [f"refused: {shown(r.file)}: {_one_line(r.error)}" for r in self.refused]
        lines += [f"error: {shown(r.file)}: {_one_line(r.error)}" for r in self.failed]
        return "\n".join(lines)


def _one_line(message: str) -> str:
    """Each problem on one line, however the underlying library worded it, with no control
    character left that a terminal or a log reader would act on."""
    return shown(" ".join(message.split()))


@contextmanager
def index_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IngestBusyError(f"another ingestion is running on {path.parent}") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


PROVENANCE_FIELDS = ("reference", "date", "source", "url", "licence")


def metadata_gaps(sources: list[Source]) -> dict[str, list[str]]:
    """Which provenance fields each document lacks (uncatalogued files lack them all)."""
    gaps: dict[str, list[str]] = {}
    for source in sources:
        if source.entry is None:
            gaps[source.path.name] = ["catalog entry"]
            continue
        missing = [f for f in PROVENANCE_FIELDS if not getattr(source.entry, f)]
        if missing:
            gaps[source.path.name] = missing
    return gaps


def embedding_text(chunk: Chunk) -> str:
    """What the dense index embeds: the section path gives a passage its context."""
    return f"{chunk.section_path}\n{chunk.text}" if chunk.section_path else chunk.text


def chunk_sentences(chunk: Chunk) -> list[tuple[int, int]]:
    return split_sentences(chunk.text)


def document_meta(source: Source, title_hint: str, blocks: list[Block], sha: str) -> DocumentMeta:
    entry = source.entry
    if entry is not None:
        return DocumentMeta(
            doc_id=entry.id,
            title=entry.title,
            reference=entry.reference,
            date=entry.date,
            kind=entry.kind,
            language=entry.language,
            url=entry.url,
            source_file=source.path.name,
            sha256=sha,
            status=entry.status,
            superseded_by=entry.superseded_by,
            catalogued=True,
        )
    heading = next((b.text for b in blocks if b.kind == "heading"), "")
    title = title_hint or heading or source.path.stem.replace("_", " ")
    kind = {".pdf": "pdf document", ".html": "web page", ".htm": "web page"}.get(
        source.path.suffix.lower(), "document"
    )
    return DocumentMeta(
        doc_id=source.doc_id,
        title=title[:300],
        kind=kind,
        source_file=source.path.name,
        sha256=sha,
        catalogued=False,
    )


class _Plan(BaseModel):
    source: Source
    sha: str
    chunks: list[Chunk]
    previous: list[str]


class Ingestor:
    """One ingestion run over the configured index (see `run`)."""

    def __init__(self, settings: Settings, progress: bool = True) -> None:
        self.settings = settings
        self.progress = progress
        self.paths = IndexPaths(settings.index_dir)
        self._dimension = 0  # of the vectors this run wrote, once known

    def _bar(self, total: int, desc: str, unit: str) -> tqdm:
        return tqdm(total=total, desc=desc, unit=unit, disable=not self.progress, leave=True)

    def run(
        self, extra: list[Path] | None = None, include_corpus: bool = True, prune: bool = True
    ) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        with index_lock(self.paths.lock):
            self._run(report, extra or [], include_corpus, prune)
        report.seconds = time.perf_counter() - started
        return report

    def _run(
        self, report: IngestReport, extra: list[Path], include_corpus: bool, prune: bool
    ) -> None:
        settings = self.settings
        sources, warnings = discover(settings.corpus_dir if include_corpus else None, extra)
        report.warnings.extend(warnings)
        report.incomplete_metadata = metadata_gaps(sources)
        embedder = embedder_from_settings(settings)
        model_id = embedder.model_id
        store = ChunkStore(self.paths.chunk_store)
        cache = EmbeddingCache(self.paths.embedding_cache, model_id, seed_path(settings))
        try:
            collection = self._collection(store, model_id, report)
            chroma_ids = collection_ids(collection)
            store_ids = store.chunk_ids()
            stored = store.documents()
            plans = self._plan(sources, stored, chroma_ids, store_ids, embedder, report)
            changed = self._write(plans, collection, store, cache, embedder, report)
            changed |= self._prune(sources, stored, collection, store, report, prune)
            changed |= self._remove_orphans(collection, store, report)
            changed |= self._sync_multilingual(store, report)
            self._finish(store, embedder, changed, report)
        finally:
            store.close()
            cache.close()

    def _collection(self, store: ChunkStore, model_id: str, report: IngestReport) -> Any:
        client = chroma_client(self.settings)
        manifest = self.paths.read_manifest()
        if manifest is not None and manifest.embedding_model != model_id:
            report.warnings.append(
                f"embedding model changed ({manifest.embedding_model} -> {model_id}): "
                "rebuilding the index"
            )
            with contextlib.suppress(Exception):  # absent collection: nothing to delete
                client.delete_collection(self.settings.collection)
            for doc_id in store.documents():
                store.delete_document(doc_id)
            store.delete_chunks(store.chunk_ids())
        return get_collection(client, self.settings.collection, create=True)

    def _plan(
        self,
        sources: list[Source],
        stored: dict[str, StoredDocument],
        chroma_ids: set[str],
        store_ids: set[str],
        embedder: Embedder,
        report: IngestReport,
    ) -> list[_Plan]:
        max_bytes = self.settings.max_file_mb * 1024 * 1024
        max_tokens = self.settings.chunk_max_tokens or (embedder.max_seq_length - 2)
        if self.settings.passage_prefix:
            max_tokens -= embedder.count_tokens(self.settings.passage_prefix)
        plans: list[_Plan] = []
        bar = self._bar(len(sources), "read+chunk", "doc")
        require = self.settings.require_catalog
        for source in sources:
            bar.set_postfix_str(shown(source.path.name[:40]))
            bar.update(1)
            result = DocumentResult(doc_id=source.doc_id, file=str(source.path), status="failed")
            previous = stored.get(source.doc_id)
            if source.error:
                result.error = source.error
                report.results.append(result)
                continue
            if require and source.entry is None:
                self._refuse(result, "no catalog entry (EMN_REQUIRE_CATALOG=true)", previous)
                report.results.append(result)
                continue
            try:
                size = source.path.stat().st_size
                sha = "" if size > max_bytes else file_sha256(source.path)
            except OSError as exc:
                result.error = f"cannot be read ({exc.strerror or exc})"
                report.results.append(result)
                continue
            if size > max_bytes:
                result.error = (
                    f"file too large ({size / 2**20:.1f} MB > EMN_MAX_FILE_MB="
                    f"{self.settings.max_file_mb:g}); split it or raise the limit"
                )
                report.results.append(result)
                continue
            if require and source.entry is not None and source.entry.sha256 != sha:
                reason = "bytes differ from its catalog entry's sha256 (EMN_REQUIRE_CATALOG=true)"
                self._refuse(result, reason, previous)
                report.results.append(result)
                continue
            if source.entry is not None and source.entry.sha256 != sha:
                report.warnings.append(
                    f"{shown(source.path.name)}: sha256 differs from its catalog entry "
                    "(update corpus/catalog.json)"
                )
            if (
                previous is not None
                and previous.sha256 == sha
                and previous.chunker_version == CHUNKER_VERSION
                and set(previous.chunk_ids) <= chroma_ids
                and set(previous.chunk_ids) <= store_ids
                # Same bytes give the same inferred metadata; a catalog edit must be applied,
                # and so must the `unverified` status to a file indexed before it existed.
                and (
                    previous.meta.get("status") == UNVERIFIED
                    if source.entry is None
                    else document_meta(source, "", [], sha).model_dump() == previous.meta
                )
            ):
                result.status, result.chunks = "unchanged", len(previous.chunk_ids)
                report.chunks_unchanged += len(previous.chunk_ids)
                report.results.append(result)
                continue
            try:
                title, blocks = load_document(source.path)
                meta = document_meta(source, title, blocks, sha)
                chunks = chunk_blocks(blocks, meta, embedder.count_tokens, max_tokens=max_tokens)
            except LoadError as exc:
                result.error = str(exc)
                report.results.append(result)
                continue
            except Exception as exc:  # a loader bug must not stop the other documents
                result.error = f"could not be read ({type(exc).__name__}: {exc})"
                report.results.append(result)
                continue
            if not chunks:
                result.error = "no text content"
                report.results.append(result)
                continue
            if not meta.catalogued:
                report.warnings.append(
                    f"{shown(source.path.name)}: no catalog entry; indexed as an unverified source "
                    f"(id {meta.doc_id!r}, title {meta.title[:60]!r}, no reference or date)"
                )
            plans.append(
                _Plan(
                    source=source,
                    sha=sha,
                    chunks=chunks,
                    previous=previous.chunk_ids if previous else [],
                )
            )
        bar.close()
        return plans

    def _write(
        self,
        plans: list[_Plan],
        collection: Any,
        store: ChunkStore,
        cache: EmbeddingCache,
        embedder: Embedder,
        report: IngestReport,
    ) -> bool:
        if not plans:
            return False
        # Everything to embed, across documents, so batches are full.
        texts: list[str] = []
        sentence_spans: dict[str, list[tuple[int, int]]] = {}
        for plan in plans:
            for chunk in plan.chunks:
                texts.append(embedding_text(chunk))
                spans = chunk_sentences(chunk)
                sentence_spans[chunk.id] = spans
                texts.extend(chunk.text[a:b] for a, b in spans)
        vectors, embedded, seconds = self._embed(cache, texts, embedder.embed_passages, "embed")
        if vectors:
            self._dimension = len(next(iter(vectors.values())))
        report.texts_embedded += embedded
        report.embedding_seconds += seconds

        bar = self._bar(len(plans), "write", "doc")
        for plan in plans:
            chunks = plan.chunks
            for i in range(0, len(chunks), CHROMA_BATCH):
                batch = chunks[i : i + CHROMA_BATCH]
                collection.upsert(
                    ids=[c.id for c in batch],
                    embeddings=[vectors[text_hash(embedding_text(c))].tolist() for c in batch],
                    documents=[c.text for c in batch],
                    metadatas=[c.chroma_metadata() for c in batch],
                )
            sentence_vectors = {
                c.id: _stack([vectors[text_hash(c.text[a:b])] for a, b in sentence_spans[c.id]])
                for c in chunks
            }
            store.put_chunks(chunks, sentence_spans, sentence_vectors)
            new_ids = [c.id for c in chunks]
            store.put_document(
                StoredDocument(
                    doc_id=plan.source.doc_id,
                    sha256=plan.sha,
                    source_file=str(plan.source.path),
                    chunker_version=CHUNKER_VERSION,
                    chunk_ids=new_ids,
                    meta=chunks[0].doc.model_dump(),
                )
            )
            stale = sorted(set(plan.previous) - set(new_ids))
            if stale:
                collection.delete(ids=stale)
                store.delete_chunks(stale)
            kept = len(set(plan.previous) & set(new_ids))
            report.chunks_added += len(new_ids) - kept
            report.chunks_unchanged += kept
            report.chunks_removed += len(stale)
            report.results.append(
                DocumentResult(
                    doc_id=plan.source.doc_id,
                    file=str(plan.source.path),
                    status="updated" if plan.previous else "added",
                    chunks=len(new_ids),
                )
            )
            bar.update(1)
        bar.close()
        return True

    def _embed(
        self,
        cache: EmbeddingCache,
        texts: list[str],
        embed: Callable[[list[str]], Any],
        desc: str,
    ) -> tuple[dict[str, Any], int, float]:
        """Vectors of `texts` by hash (only unseen ones embedded, with a progress bar): the
        vectors, how many were embedded now, and the seconds it took."""
        cached = cache.get_many(texts)
        bar = self._bar(len({text_hash(t) for t in texts} - set(cached)), desc, "text")
        t0 = time.perf_counter()
        vectors, embedded = cache.embed(
            texts, embed, self.settings.embedding_batch_size, bar.update
        )
        bar.close()
        return vectors, embedded, time.perf_counter() - t0

    @staticmethod
    def _refuse(result: DocumentResult, reason: str, previous: StoredDocument | None) -> None:
        """Keep a file out of the index (EMN_REQUIRE_CATALOG). Like a failed file, nothing
        indexed before is lost: an earlier copy stays, with the status it had (an
        uncatalogued one `unverified`), until the file is catalogued or removed."""
        result.status, result.error = "refused", reason
        if previous is not None:
            result.chunks = len(previous.chunk_ids)
            result.error += "; its earlier indexed copy stays until the file is removed"

    def _prune(
        self,
        sources: list[Source],
        stored: dict[str, StoredDocument],
        collection: Any,
        store: ChunkStore,
        report: IngestReport,
        prune: bool,
    ) -> bool:
        if not prune:
            return False
        wanted = {s.doc_id for s in sources}
        changed = False
        for doc_id, doc in stored.items():
            if doc_id in wanted:
                continue
            if doc.chunk_ids:
                collection.delete(ids=doc.chunk_ids)
                store.delete_chunks(doc.chunk_ids)
            store.delete_document(doc_id)
            report.chunks_removed += len(doc.chunk_ids)
            report.results.append(
                DocumentResult(
                    doc_id=doc_id, file=doc.source_file, status="removed", chunks=len(doc.chunk_ids)
                )
            )
            changed = True
        return changed

    def _remove_orphans(self, collection: Any, store: ChunkStore, report: IngestReport) -> bool:
        """Chunks no document record claims: left by a run that was killed mid-write."""
        claimed = {cid for doc in store.documents().values() for cid in doc.chunk_ids}
        in_chroma = collection_ids(collection) - claimed
        in_store = store.chunk_ids() - claimed
        if in_chroma:
            ids = sorted(in_chroma)
            for i in range(0, len(ids), CHROMA_BATCH):
                collection.delete(ids=ids[i : i + CHROMA_BATCH])
        if in_store:
            store.delete_chunks(in_store)
        if in_chroma or in_store:
            report.warnings.append(
                f"removed {len(in_chroma | in_store)} orphan chunks left by an interrupted run"
            )
        return bool(in_chroma or in_store)

    def _sync_multilingual(self, store: ChunkStore, report: IngestReport) -> bool:
        """The multilingual vectors follow the chunks: every chunk and its sentences get
        one, nothing else keeps one. Run after the chunks are written, so adding, changing
        or removing a document, a run killed half-way, and turning the model on for an
        existing index all end the same way. Returns whether anything changed."""
        client = chroma_client(self.settings)
        name = multilingual_collection(self.settings.collection)
        manifest = self.paths.read_manifest()
        previous = manifest.multilingual_model if manifest else ""
        model = multilingual_from_settings(self.settings)
        if model is None or (previous and previous != model.model_id):
            if previous:
                with contextlib.suppress(Exception):  # absent collection: nothing to delete
                    client.delete_collection(name)
                store.clear_multilingual()
            if model is None:
                return bool(previous)
        collection = get_collection(client, name, create=True)
        return self._embed_multilingual(model, collection, store, report) or previous != (
            model.model_id
        )

    def _embed_multilingual(
        self,
        model: MultilingualEmbedder,
        collection: Any,
        store: ChunkStore,
        report: IngestReport,
    ) -> bool:
        chunks = {c.id: c for c in store.iter_chunks()}
        spans = store.sentence_spans()
        in_chroma = collection_ids(collection)
        with_sentences = store.multilingual_chunk_ids()
        stale = sorted(in_chroma - set(chunks))
        for i in range(0, len(stale), CHROMA_BATCH):
            collection.delete(ids=stale[i : i + CHROMA_BATCH])
        todo = [
            c for cid, c in chunks.items()
            if cid not in in_chroma or (spans.get(cid) and cid not in with_sentences)
        ]  # fmt: skip
        if not todo:
            return bool(stale)
        texts: list[str] = []
        for chunk in todo:
            texts.append(embedding_text(chunk))
            texts.extend(chunk.text[a:b] for a, b in spans.get(chunk.id, []))
        cache = EmbeddingCache(self.paths.embedding_cache, model.model_id, seed_path(self.settings))
        try:
            vectors, embedded, seconds = self._embed(
                cache, texts, model.embed_passages, "embed (multilingual)"
            )
        finally:
            cache.close()
        report.multilingual_texts_embedded += embedded
        report.multilingual_seconds += seconds
        for i in range(0, len(todo), CHROMA_BATCH):
            batch = todo[i : i + CHROMA_BATCH]
            collection.upsert(
                ids=[c.id for c in batch],
                embeddings=[vectors[text_hash(embedding_text(c))].tolist() for c in batch],
                metadatas=[c.chroma_metadata() for c in batch],
            )
            store.put_multilingual(
                {
                    c.id: _stack([vectors[text_hash(c.text[a:b])] for a, b in spans[c.id]])
                    for c in batch
                    if spans.get(c.id)
                }
            )
        return True

    def _finish(
        self, store: ChunkStore, embedder: Embedder, changed: bool, report: IngestReport
    ) -> None:
        paths = self.paths
        manifest = paths.read_manifest()
        if not changed and manifest is not None and paths.bm25.exists():
            report.manifest = manifest
            return
        chunks = list(store.iter_chunks())
        bar = self._bar(1, "bm25", "index")
        build_bm25(chunks, paths.bm25)
        bar.update(1)
        bar.close()
        documents = store.documents()
        n_chunks, n_sentences = store.count()
        ml = multilingual_from_settings(self.settings)
        corpus_hash = text_hash(
            CHUNKER_VERSION + "".join(f"{d}:{documents[d].sha256};" for d in sorted(documents))
        )
        # Asking the embedder loads the network (seconds); a run that embedded nothing new (a
        # removal, a catalog edit, vectors from the cache) knows the dimension already.
        if self._dimension:
            dimension = self._dimension
        elif manifest is not None and manifest.embedding_model == embedder.model_id:
            dimension = manifest.embedding_dimension
        else:
            dimension = embedder.dimension
        manifest = Manifest(
            corpus_hash=corpus_hash,
            embedding_model=embedder.model_id,
            embedding_dimension=dimension,
            collection=self.settings.collection,
            chroma_mode=self.settings.chroma_mode,
            documents=len(documents),
            chunks=n_chunks,
            sentences=n_sentences,
            multilingual_model=ml.model_id if ml else "",
            document_list=[
                ManifestDocument(
                    doc_id=d.doc_id,
                    title=d.meta.get("title", ""),
                    file=Path(d.source_file).name,
                    sha256=d.sha256,
                    chunks=len(d.chunk_ids),
                    catalogued=bool(d.meta.get("catalogued", True)),
                )
                for d in sorted(documents.values(), key=lambda x: x.doc_id)
            ],
        )
        paths.write_manifest(manifest)
        report.manifest = manifest


def _stack(vectors: list[Any]) -> Any:
    import numpy as np

    return np.vstack(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)


def run_ingest(
    settings: Settings,
    extra: list[Path] | None = None,
    include_corpus: bool = True,
    prune: bool = True,
    progress: bool = True,
) -> IngestReport:
    """Ingest the corpus (and `extra` paths) into the configured index."""
    return Ingestor(settings, progress=progress).run(extra, include_corpus, prune)
