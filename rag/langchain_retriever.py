"""The hybrid retriever as a LangChain `BaseRetriever`, so LangChain users can compose it
into their own chains (it returns `Document`s with the citation metadata)."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from index.schema import Filters


class EMNRetriever(BaseRetriever):
    """`EMNRetriever(assistant=Assistant(settings), k=5).invoke("question")`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    assistant: Any = Field(description="A rag.pipeline.Assistant (index and embedder loaded).")
    k: int = 5
    filters: Filters | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        documents = []
        for cand in self.assistant.search(query, self.filters, self.k):
            chunk = cand.chunk
            documents.append(
                Document(
                    page_content=chunk.text,
                    id=chunk.id,
                    metadata={
                        "chunk_id": chunk.id,
                        "doc_id": chunk.doc.doc_id,
                        "title": chunk.doc.title,
                        "reference": chunk.doc.reference,
                        "section_path": chunk.section_path,
                        "page": chunk.page,
                        "date": chunk.doc.date,
                        "kind": chunk.doc.kind,
                        "score": round(cand.score, 4),
                    },
                )
            )
        return documents
