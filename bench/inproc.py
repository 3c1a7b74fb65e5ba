"""The answering pipeline in process, beside the naive LangChain peer, in one fresh process.

- Latency: every dev question through `Assistant.ask` (per-step `Answer.timings` and the wall
  clock) and through the peer (`evals.baseline.BaselineTarget.ask`), interleaved question by
  question so that load from elsewhere on the machine hits both alike.
- Components: the parts of the retrieve step timed alone (query embedding, Chroma, BM25, the
  candidates' re-scoring).
- Throughput: answers per second from N threads asking in a loop for a fixed time, ours and
  the peer's (the service runs `ask` in a thread pool the same way).
- Profile: pyinstrument over `Assistant.ask` for the whole set (a separate pass, so the
  profiler's overhead is not in the latency figures); the HTML and text renderings are saved.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.util import peak_rss_mb, rss_mb, summary

WARM_UP = 5
STEPS = ("guard_in", "rewrite", "retrieve", "scope", "rerank", "compose", "verify", "guard_out")


def throughput(
    ask: Callable[[int], Any], n_questions: int, clients: int, seconds: float
) -> dict[str, Any]:
    """`clients` threads each call `ask(i)` over the questions (each thread starting at a
    different one) until `seconds` have passed; a call in flight then is completed."""
    deadline = time.perf_counter() + seconds
    done = [0] * clients
    errors = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]

    def loop(worker: int) -> None:
        i = worker
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                ask(i % n_questions)
            except Exception:
                errors[worker] += 1
            else:
                done[worker] += 1
                latencies[worker].append((time.perf_counter() - t0) * 1000)
            i += clients

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(w,), daemon=True) for w in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    answers = sum(done)
    total = answers + sum(errors)
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": total,
        "answers": answers,
        "errors": sum(errors),
        "error_rate": round(sum(errors) / total, 4) if total else None,
        "answers_per_s": round(answers / elapsed, 2) if elapsed else None,
        "latency_ms": summary(x for lat in latencies for x in lat),
    }


def _library(path: str) -> str:
    """Which package a profiled frame belongs to (site-packages name, project folder, ...)."""
    path = path.replace("\\", "/")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for folder in ("rag", "common", "ingest", "api", "evals", "bench", "index"):
        if f"/{folder}/" in path or path.startswith(f"{folder}/"):
            return folder
    if "/lib/python3" in path:
        return "python stdlib"
    return path.rsplit("/", 1)[-1] or "?"


def aggregate_profile(root: Any, top: int = 25) -> dict[str, Any]:
    """Per function: inclusive time (recursion counted once) and self time; per library: self
    time, a built-in (C) function counting for the library that called it. Shares are of the
    profiled wall time."""
    inclusive: dict[tuple[str, str, int], float] = defaultdict(float)
    own: dict[tuple[str, str, int], float] = defaultdict(float)
    library_of: dict[tuple[str, str, int], str] = {}
    libraries: dict[str, float] = defaultdict(float)
    total = float(root.time) or 1.0
    stack: list[tuple[Any, frozenset, str]] = [(root, frozenset(), "?")]
    while stack:
        frame, above, caller = stack.pop()
        if frame.is_synthetic:
            continue
        path = frame.file_path or ""
        builtin = not path or path.startswith("<")
        library = f"{caller} (C)" if builtin and not caller.endswith("(C)") else caller
        if not builtin:
            library = _library(path)
        key = (frame.function, frame.file_path_short or path, frame.line_no or 0)
        library_of.setdefault(key, library)
        children = [c for c in frame.children if not c.is_synthetic]
        self_time = max(0.0, frame.time - sum(c.time for c in children))
        own[key] += self_time
        libraries[library.removesuffix(" (C)")] += self_time
        if key not in above:
            inclusive[key] += frame.time
        below = above | {key}
        stack.extend((child, below, library) for child in children)

    def rows(table: dict[tuple[str, str, int], float]) -> list[dict[str, Any]]:
        ordered = sorted(table.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return [
            {
                "function": fn,
                "where": f"{path}:{line}" if line else path,
                "library": library_of.get((fn, path, line), "?"),
                "seconds": round(t, 3),
                "share": round(t / total, 4),
            }
            for (fn, path, line), t in ordered
        ]

    project = {
        k: v for k, v in inclusive.items() if library_of.get(k) in ("rag", "index", "common", "api")
    }
    return {
        "seconds": round(total, 3),
        "top_self": rows(own),
        "top_inclusive": rows(inclusive),
        "top_project_inclusive": rows(project),
        "by_library_self": [
            {"library": lib, "seconds": round(t, 3), "share": round(t / total, 4)}
            for lib, t in sorted(libraries.items(), key=lambda kv: kv[1], reverse=True)[:15]
        ],
    }


def run(params: dict[str, Any]) -> dict[str, Any]:
    from common.settings import load_settings
    from evals.baseline import BaselineTarget
    from evals.dataset import load_dataset
    from rag.pipeline import Assistant

    if params.get("torch_threads"):
        import torch

        torch.set_num_threads(int(params["torch_threads"]))
    settings = load_settings(
        index_dir=Path(params["index_dir"]),
        corpus_dir=params["corpus_dir"],
        composer="extractive",
        # The runs repeat the dev questions (and the peer asks each one right after ours):
        # without the query-vector cache every question is embedded, as one never seen.
        query_cache_size=0,
        **({"torch_threads": int(params["torch_threads"])} if params.get("torch_threads") else {}),
    )
    items = load_dataset(Path(params["dataset"]))
    if params.get("limit"):
        items = items[: int(params["limit"])]
    questions = [item.question for item in items]
    clients: list[int] = [int(c) for c in params.get("clients", [1, 4, 16])]
    seconds = float(params.get("throughput_seconds", 10))
    out: dict[str, Any] = {"questions": len(items), "torch_threads": _torch_threads()}

    rss_start = rss_mb()
    t0 = time.perf_counter()
    assistant = Assistant(settings)
    assistant.warm_up()
    out["ours_start_seconds"] = round(time.perf_counter() - t0, 2)
    out["ours_rss_after_start_mb"] = rss_mb()

    peer = None
    if params.get("peer", True):
        t0 = time.perf_counter()
        cache = Path(params["peer_cache"]) if params.get("peer_cache") else None
        peer = BaselineTarget(settings, cache_path=cache)
        out["peer"] = {
            "describe": peer.describe(),
            "build_seconds": round(time.perf_counter() - t0, 2),
        }

    for item in items[:WARM_UP]:
        assistant.ask(item.question)
        if peer is not None:
            peer.ask(item)

    # --- latency, interleaved --------------------------------------------------------
    ours_wall: list[float] = []
    steps: dict[str, list[float]] = defaultdict(list)
    behaviours: dict[str, list[float]] = defaultdict(list)
    peer_wall: list[float] = []
    peer_steps: dict[str, list[float]] = defaultdict(list)
    for item in items:
        t0 = time.perf_counter()
        answer = assistant.ask(item.question)
        wall = (time.perf_counter() - t0) * 1000
        ours_wall.append(wall)
        behaviours[answer.behaviour].append(wall)
        for name, ms in answer.timings.items():
            steps[name].append(float(ms))
        if peer is not None:
            t0 = time.perf_counter()
            reply = peer.ask(item)
            peer_wall.append((time.perf_counter() - t0) * 1000)
            for name, ms in reply.timings.items():
                peer_steps[name].append(float(ms))
    ordered = [s for s in STEPS if s in steps] + [s for s in steps if s not in STEPS]
    out["ours_latency"] = {
        "wall_ms": summary(ours_wall),
        "steps_ms": {name: summary(steps[name]) for name in ordered},
        "by_behaviour_ms": {b: summary(v) for b, v in sorted(behaviours.items())},
    }
    if peer is not None:
        out["peer"]["latency"] = {
            "wall_ms": summary(peer_wall),
            "steps_ms": {name: summary(v) for name, v in peer_steps.items()},
        }

    # --- components of the retrieve step -----------------------------------------------
    out["components_ms"] = components(assistant, questions)

    # --- profile -----------------------------------------------------------------------
    if params.get("profile", True):
        out["profile"] = profile(
            assistant, questions, Path(params["profile_dir"]), bool(params.get("profile_html"))
        )

    # --- throughput in process -----------------------------------------------------------
    out["ours_throughput"] = [
        throughput(lambda i: assistant.ask(questions[i]), len(questions), n, seconds)
        for n in clients
    ]
    if peer is not None:
        # BaselineTarget remembers the last question's vector on the instance, so under
        # threads a call may reuse another's vector: the timing is right, the answer may not be.
        out["peer"]["throughput"] = [
            throughput(lambda i: peer.ask(items[i]), len(items), n, seconds) for n in clients
        ]
        peer.close()
    out["rss_end_mb"] = rss_mb()
    out["rss_start_mb"] = rss_start
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def components(assistant: Any, questions: list[str]) -> dict[str, Any]:
    """The retrieve step's parts, each timed alone over the questions; then the query
    embedding again with torch limited to one thread, and through the model's forward pass
    without `SentenceTransformer.encode` (evidence for the fixes the report proposes)."""
    import torch

    from rag.retrieval import QueryTerms

    embedder, index, retriever = assistant.embedder, assistant.index, assistant.retriever
    k = retriever.fetch_k
    threads = torch.get_num_threads()
    times: dict[str, list[float]] = defaultdict(list)

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = fn()
        times[name].append((time.perf_counter() - t0) * 1000)
        return result

    # Each part in its own loop, so none runs while torch's threads are still busy.
    vectors = [
        timed(f"embed_query (torch, {threads} threads)", lambda q=q: embedder.embed_query(q))
        for q in questions
    ]
    lexical = [QueryTerms.of(q, index).lexical_query(q) for q in questions]
    for vector in vectors:
        timed("dense search", lambda v=vector: index.dense(v, k))
    for query in lexical:
        timed("BM25", lambda q=query: index.lexical(q, k))
    for question, vector in zip(questions, vectors, strict=True):
        timed(
            "candidates (search + re-scoring)",
            lambda q=question, v=vector: retriever.candidates(q, v),
        )
    # Dense search right after an embedding, as in the retrieve step (exact up to
    # EMN_EXACT_SEARCH_MAX_CHUNKS, else Chroma's graph).
    for question, vector in zip(questions, vectors, strict=True):
        embedder.embed_query(question)
        timed("dense search right after embed_query", lambda v=vector: index.dense(v, k))
    model = embedder.model

    def forward(text: str) -> Any:
        if hasattr(model, "embed_batch"):  # transformers alone (common.transformer_encoder)
            return model.embed_batch([embedder.query_prefix + text])[0]
        prepare = getattr(model, "preprocess", None) or model.tokenize
        with torch.inference_mode():
            features = prepare([embedder.query_prefix + text])
            return model(features)["sentence_embedding"][0].numpy()

    try:
        torch.set_num_threads(1)
        for question in questions:
            timed("embed_query (torch, 1 thread)", lambda q=question: embedder.embed_query(q))
        for question in questions:
            timed("model forward alone (torch, 1 thread)", lambda q=question: forward(q))
    finally:
        torch.set_num_threads(threads)
    return {name: summary(values) for name, values in times.items()}


def profile(
    assistant: Any, questions: list[str], target: Path, html: bool = False
) -> dict[str, Any]:
    from pyinstrument import Profiler

    target.mkdir(parents=True, exist_ok=True)
    profiler = Profiler(interval=0.001)
    profiler.start()
    for question in questions:
        assistant.ask(question)
    profiler.stop()
    session = profiler.last_session
    files = ["profile.txt"]
    if html:
        (target / "profile.html").write_text(profiler.output_html(), encoding="utf-8")
        files.append("profile.html")
    (target / "profile.txt").write_text(
        profiler.output_text(unicode=True, color=False, show_all=False), encoding="utf-8"
    )
    result = aggregate_profile(session.root_frame())
    result["questions"] = len(questions)
    result["samples"] = session.sample_count
    result["files"] = files
    return result
