"""The service as an evaluation target, through its documented contract:

- `POST {base}/v1/ask` with `{"question", "history", "filters"}` returns the `Answer` JSON;
- `GET {base}/v1/documents/{doc_id}/chunks` lists a document's passages (texts of the
  retrieval trace are looked up there, once per document);
- `POST {base}/v1/search` with `{"query", "k"}` returns passages (the wider search for hit@10).

`Authorization: Bearer KEY` on every request. Response shapes of the two passage endpoints are
read leniently (a list, or an object holding one under `chunks`/`results`/`passages`/`items`/
`data`; each entry with `chunk_id` or `id`, `doc_id`, and `text`/`quote`/`content`), so a small
change of envelope does not break evaluation. A passage whose text cannot be found counts as not
holding any gold quote, and the run reports how many there were.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

from evals.dataset import Item
from evals.targets import RANKING_DEPTH, EvalError, Passage, Reply, complete_ranking

RETRY_STATUSES = {429, 503}
MAX_RETRIES = 8
MAX_WAIT_S = 30.0
_LIST_KEYS = ("chunks", "results", "passages", "items", "data", "documents")


def _entries(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        return []
    out = []
    for entry in data:
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("chunk"), dict):  # {"chunk": {...}, "score": ...}
            entry = {**entry, **entry["chunk"]}
        out.append(entry)
    return out


def _passage(entry: dict[str, Any]) -> Passage | None:
    chunk_id = entry.get("chunk_id") or entry.get("id")
    if not chunk_id:
        return None
    doc = entry.get("doc")
    doc_id = entry.get("doc_id") or (doc.get("doc_id") if isinstance(doc, dict) else "") or ""
    text = entry.get("text") or entry.get("quote") or entry.get("content") or entry.get("passage")
    return Passage(str(chunk_id), str(doc_id), str(text) if text else None)


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class HttpTarget:
    """The assistant behind its HTTP API."""

    name = "ours"

    def __init__(
        self,
        base_url: str,
        key: str | None = None,
        composer: str | None = None,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.composer = composer
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        self._chunks: dict[str, dict[str, str]] = {}
        self.missing_texts = 0
        self.versions: dict[str, Any] = {}
        self.warnings: list[str] = []
        self._check_reachable()

    def _check_reachable(self) -> None:
        try:
            self.client.get("/v1/health")  # any HTTP answer (even 404) means it is there
        except httpx.HTTPError as exc:
            raise EvalError(
                f"API unreachable at {self.base_url}: {_one_line(str(exc)) or type(exc).__name__}"
            ) from exc

    def describe(self) -> dict[str, Any]:
        composer = self.composer or "service default"
        return {
            "mode": "http",
            "api": self.base_url,
            "composer": composer,
            "versions": self.versions,
        }

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        for attempt in range(MAX_RETRIES + 1):
            try:
                response = self.client.request(method, path, **kw)
            except httpx.TimeoutException as exc:
                raise EvalError(f"API at {self.base_url} timed out on {method} {path}") from exc
            except httpx.HTTPError as exc:
                raise EvalError(
                    f"API unreachable at {self.base_url}: {_one_line(str(exc))}"
                ) from exc
            if response.status_code in (401, 403):
                raise EvalError(
                    f"API at {self.base_url} refused the key (HTTP {response.status_code} on "
                    f"{method} {path}); pass a valid one with --key"
                )
            if response.status_code in RETRY_STATUSES and attempt < MAX_RETRIES:
                wait = response.headers.get("Retry-After", "")
                seconds = float(wait) if wait.replace(".", "", 1).isdigit() else 1.0
                time.sleep(min(max(seconds, 0.1), MAX_WAIT_S))
                continue
            return response
        return response  # pragma: no cover - loop always returns

    def ask(self, item: Item) -> Reply:
        body: dict[str, Any] = {"question": item.question, "history": [], "filters": {}}
        if self.composer:
            body["composer"] = self.composer
        started = time.perf_counter()
        response = self._request("POST", "/v1/ask", json=body)
        wall = (time.perf_counter() - started) * 1000
        if response.status_code == 404:
            raise EvalError(f"no POST /v1/ask at {self.base_url} (HTTP 404)")
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400 or not isinstance(data, dict) or "behaviour" not in data:
            why = f"HTTP {response.status_code}: {_one_line(response.text)}"
            return Reply(answer="", behaviour="error", reason=why, wall_ms=round(wall, 2))
        reply = Reply.from_answer(data, wall)
        self.versions = reply.versions or self.versions
        return reply

    def _doc_chunks(self, doc_id: str) -> dict[str, str]:
        """chunk id -> text of one document's passages (all pages of the listing)."""
        if doc_id not in self._chunks:
            texts: dict[str, str] = {}
            path = f"/v1/documents/{quote(doc_id, safe='')}/chunks"
            offset = 0
            while True:
                params = {"offset": offset} if offset else None
                response = self._request("GET", path, params=params)
                if response.status_code >= 400:
                    self.warnings.append(f"GET {path}: HTTP {response.status_code}")
                    break
                try:
                    data = response.json()
                except ValueError:
                    break
                entries = _entries(data)
                for entry in entries:
                    passage = _passage(entry)
                    if passage and passage.text:
                        texts[passage.chunk_id] = passage.text
                offset += len(entries)
                total = data.get("total") if isinstance(data, dict) else None
                if not entries or not isinstance(total, int) or offset >= total:
                    break
            self._chunks[doc_id] = texts
        return self._chunks[doc_id]

    def ranking(self, item: Item, reply: Reply) -> list[Passage]:
        cited = {c["chunk_id"]: c["quote"] for c in reply.citations if c.get("quote")}
        trace = []
        for r in reply.retrieval:
            text = cited.get(r["chunk_id"]) or self._doc_chunks(r["doc_id"]).get(r["chunk_id"])
            trace.append(Passage(r["chunk_id"], r["doc_id"], text))
        if len(trace) < RANKING_DEPTH:
            response = self._request(
                "POST", "/v1/search", json={"query": item.question, "k": RANKING_DEPTH}
            )
            wider: list[Passage] = []
            if response.status_code < 400:
                try:
                    wider = [p for e in _entries(response.json()) if (p := _passage(e))]
                except ValueError:
                    wider = []
            elif f"POST /v1/search: HTTP {response.status_code}" not in self.warnings:
                self.warnings.append(f"POST /v1/search: HTTP {response.status_code}")
            for p in wider:
                if p.text is None and p.doc_id:
                    p.text = self._doc_chunks(p.doc_id).get(p.chunk_id)
            trace = complete_ranking(trace, wider, RANKING_DEPTH)
        self.missing_texts += sum(1 for p in trace if p.text is None)
        return trace

    def close(self) -> None:
        self.client.close()
