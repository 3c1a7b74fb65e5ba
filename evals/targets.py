"""What an evaluation run asks: the pipeline in this process, the service over HTTP, or the
baseline (evals/baseline.py). Each gives the same two things per question: the reply (the
`Answer` contract as plain data) and a ranking of passage texts for the retrieval metrics.

Ranking used for hit@k / recall@k / MRR: the passages of the answer's retrieval trace
(`Answer.retrieval`, in order: what the composer saw), completed to `RANKING_DEPTH` passages
by a wider search for the same question (`Assistant.search(question, k=10)` in process,
`POST /v1/search` with k=10 over HTTP), skipping passages already in the trace. So hit@k for
k up to the trace length (8 by default) is exactly the answer's own retrieval, and hit@10 adds
the search's next passages. A question declined before retrieval has an empty trace; its
ranking is then the wider search alone (retrieval quality is measured apart from the guards,
whose effect behaviour accuracy measures).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evals.dataset import Item

RANKING_DEPTH = 10


class EvalError(RuntimeError):
    """A run cannot proceed (bad input, service unreachable): one line for the user, exit 2."""


@dataclass
class Passage:
    chunk_id: str
    doc_id: str
    text: str | None  # None when the text could not be obtained (HTTP without chunk lookup)


@dataclass
class Reply:
    """The parts of an `Answer` the metrics read, as plain data."""

    answer: str
    behaviour: str  # answered | abstained | declined | error (the request itself failed)
    reason: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)  # marker, chunk_id, doc_id, quote
    timings: dict[str, float] = field(default_factory=dict)
    retrieval: list[dict[str, Any]] = field(default_factory=list)  # chunk_id, doc_id, score
    wall_ms: float = 0.0
    versions: dict[str, Any] = field(default_factory=dict)
    fallback: bool = False  # the configured LLM failed and the extractive composer answered
    confidence: float | None = None  # the answer's (calibrated) confidence; None if it has none
    language: str = ""  # the question's language as the assistant detected it ('' if unknown)

    @property
    def latency_ms(self) -> float:
        """The pipeline's own total (`timings['total']`) when reported, else the wall clock."""
        total = self.timings.get("total")
        return float(total) if total is not None else self.wall_ms

    @classmethod
    def from_answer(cls, data: dict[str, Any], wall_ms: float) -> Reply:
        return cls(
            answer=str(data.get("answer", "")),
            behaviour=str(data.get("behaviour", "")),
            reason=str(data.get("reason", "")),
            language=str(data.get("language", "")),
            citations=[
                {
                    "marker": int(c["marker"]),
                    "chunk_id": c.get("chunk_id", ""),
                    "doc_id": c.get("doc_id", ""),
                    "quote": c.get("quote", ""),
                }
                for c in data.get("citations") or []
            ],
            timings={k: float(v) for k, v in (data.get("timings") or {}).items()},
            retrieval=[
                {
                    "chunk_id": r.get("chunk_id", ""),
                    "doc_id": r.get("doc_id", ""),
                    "score": r.get("score"),
                }
                for r in data.get("retrieval") or []
            ],
            wall_ms=round(wall_ms, 2),
            versions=dict(data.get("versions") or {}),
            fallback=bool(data.get("fallback", False)),
            confidence=float(data["confidence"]) if data.get("confidence") is not None else None,
        )


class Target(Protocol):
    name: str

    def describe(self) -> dict[str, Any]: ...

    def ask(self, item: Item) -> Reply: ...

    def ranking(self, item: Item, reply: Reply) -> list[Passage]: ...

    def close(self) -> None: ...


def shown_path(path: Any) -> str:
    """A path relative to the working folder when inside it (reports are committed)."""
    resolved = Path(path).resolve()
    cwd = Path.cwd()
    return str(resolved.relative_to(cwd)) if resolved.is_relative_to(cwd) else str(resolved)


def complete_ranking(trace: list[Passage], wider: list[Passage], depth: int) -> list[Passage]:
    """The trace, then passages of the wider search not already in it, up to `depth`."""
    seen = {p.chunk_id for p in trace}
    out = list(trace)
    for passage in wider:
        if len(out) >= depth:
            break
        if passage.chunk_id not in seen:
            seen.add(passage.chunk_id)
            out.append(passage)
    return out


class _LastQueryMemo:
    """The assistant's embedder, remembering the last query vector it computed.

    The wider search right after an answer asks for the vector of the same question; the memo
    is cleared before every question, so the answer's own timings always include embedding.
    """

    def __init__(self, embedder: Any) -> None:
        self._embedder = embedder
        self._last: tuple[str, Any] | None = None

    def clear(self) -> None:
        self._last = None

    def embed_query(self, text: str) -> Any:
        if self._last is None or self._last[0] != text:
            self._last = (text, self._embedder.embed_query(text))
        return self._last[1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)


class InProcessTarget:
    """The answering pipeline (`rag.pipeline.Assistant`) in this process."""

    name = "ours"

    def __init__(self, settings: Any, composer: str | None = None) -> None:
        from index.reader import IndexNotReadyError
        from rag.pipeline import Assistant

        self.settings = settings
        self.composer = composer
        self.versions: dict[str, Any] = {}
        self.assistant = Assistant(settings)
        self._memo = _LastQueryMemo(self.assistant.embedder)
        self.assistant.embedder = self._memo  # type: ignore[assignment]
        try:
            self.assistant.warm_up()
        except IndexNotReadyError as exc:
            raise EvalError(str(exc)) from exc

    def describe(self) -> dict[str, Any]:
        return {
            "mode": "in-process",
            "index_dir": shown_path(self.settings.index_dir),
            "composer": self.composer or self.settings.composer,
            "retrieval_k": self.settings.retrieval_k,
            "versions": self.versions,
        }

    def ask(self, item: Item) -> Reply:
        self._memo.clear()
        started = time.perf_counter()
        answer = self.assistant.ask(item.question, composer=self.composer)
        wall = (time.perf_counter() - started) * 1000
        reply = Reply.from_answer(answer.model_dump(mode="json"), wall)
        self.versions = reply.versions or self.versions
        return reply

    def _passage(self, chunk_id: str, doc_id: str) -> Passage:
        chunk = self.assistant.index.chunks.get(chunk_id)
        return Passage(chunk_id, doc_id, chunk.text if chunk is not None else None)

    def ranking(self, item: Item, reply: Reply) -> list[Passage]:
        trace = [self._passage(r["chunk_id"], r["doc_id"]) for r in reply.retrieval]
        if len(trace) >= RANKING_DEPTH:
            return trace[:RANKING_DEPTH]
        wider = [
            Passage(c.chunk.id, c.chunk.doc.doc_id, c.chunk.text)
            for c in self.assistant.search(item.question, k=RANKING_DEPTH)
        ]
        return complete_ranking(trace, wider, RANKING_DEPTH)

    def close(self) -> None:
        pass
