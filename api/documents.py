"""The catalog of indexed documents and their passages in order, so that a citation
(`/v1/documents/{id}/chunks#{chunk_id}`) can be opened with its context."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from api.auth import SearchCaller
from api.errors import ERROR_RESPONSES, ApiError, error_doc
from api.schemas import ChunkInfo, DocumentChunks, DocumentInfo, DocumentList
from api.state import Service, ServiceDep
from index.reader import IndexReader
from index.schema import Chunk
from rag.citation import chunk_url, chunks_url, public_base

router = APIRouter(tags=["documents"])

DocId = Annotated[
    str, Path(description="Document id, as in citations and the catalog.", max_length=200)
]


async def loaded_index(service: Service) -> IndexReader:
    """The index, reloaded first if ingestion has written a new one since."""
    index = service.assistant.index
    await run_in_threadpool(index.ensure_loaded)
    return index


def document_info(index: IndexReader, doc_id: str, base: str) -> DocumentInfo:
    ids = index.by_doc.get(doc_id)
    if not ids:
        raise ApiError(404, "document_not_found", f"No document with id {doc_id!r}.")
    doc = index.chunks[ids[0]].doc
    return DocumentInfo(
        id=doc.doc_id,
        title=doc.title,
        reference=doc.reference,
        date=doc.date,
        kind=doc.kind,
        language=doc.language,
        status=doc.status,
        superseded_by=doc.superseded_by,
        source_url=doc.url,
        source_file=doc.source_file,
        sha256=doc.sha256,
        catalogued=doc.catalogued,
        chunks=len(ids),
        chunks_url=chunks_url(base, doc.doc_id),
    )


def chunk_info(chunk: Chunk, base: str) -> ChunkInfo:
    return ChunkInfo(
        chunk_id=chunk.id,
        doc_id=chunk.doc.doc_id,
        ordinal=chunk.ordinal,
        section_path=chunk.section_path,
        page=chunk.page,
        page_end=chunk.page_end,
        text=chunk.text,
        footnotes=chunk.footnotes,
        block=chunk.block,
        url=chunk_url(base, chunk),
    )


@router.get(
    "/v1/documents",
    response_model=DocumentList,
    summary="List the indexed documents",
    responses=ERROR_RESPONSES,
)
async def list_documents(_: SearchCaller, service: ServiceDep) -> DocumentList:
    index = await loaded_index(service)
    base = public_base(service.settings)
    docs = [document_info(index, doc_id, base) for doc_id in sorted(index.by_doc)]
    manifest = index.manifest
    assert manifest is not None
    return DocumentList(
        documents=docs, index_manifest=manifest.manifest_hash, corpus_hash=manifest.corpus_hash
    )


@router.get(
    "/v1/documents/{doc_id}",
    response_model=DocumentInfo,
    summary="One document's metadata",
    responses=ERROR_RESPONSES | {404: error_doc("Unknown id.")},
)
async def get_document(doc_id: DocId, _: SearchCaller, service: ServiceDep) -> DocumentInfo:
    index = await loaded_index(service)
    return document_info(index, doc_id, public_base(service.settings))


@router.get(
    "/v1/documents/{doc_id}/chunks",
    response_model=DocumentChunks,
    summary="A document's passages, in order",
    description="Each passage with its section path and page; citation URLs point here with "
    "the passage's chunk id as the fragment.",
    responses=ERROR_RESPONSES | {404: error_doc("Unknown id.")},
)
async def document_chunks(
    doc_id: DocId,
    _: SearchCaller,
    service: ServiceDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> DocumentChunks:
    index = await loaded_index(service)
    base = public_base(service.settings)
    info = document_info(index, doc_id, base)
    ids = index.by_doc[doc_id]
    page = [chunk_info(index.chunks[cid], base) for cid in ids[offset : offset + limit]]
    return DocumentChunks(document=info, chunks=page, total=len(ids), offset=offset, limit=limit)


@router.get(
    "/v1/chunks/{chunk_id}",
    response_model=ChunkInfo,
    summary="One passage by chunk id",
    responses=ERROR_RESPONSES | {404: error_doc("Unknown id.")},
)
async def get_chunk(
    chunk_id: Annotated[str, Path(max_length=200)],
    _: SearchCaller,
    service: ServiceDep,
) -> ChunkInfo:
    index = await loaded_index(service)
    chunk = index.chunks.get(chunk_id)
    if chunk is None:
        raise ApiError(404, "chunk_not_found", f"No passage with id {chunk_id!r}.")
    return chunk_info(chunk, public_base(service.settings))
