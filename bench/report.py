"""bench.json -> targets, report.md and the PNG plots (each part optional: a part that was
skipped or failed is reported as such, never invented)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.util import ratio
from evals.report import markdown_table

PLOTS = ("scale.png", "steps.png", "throughput.png", "ingest.png")
QUALITY_KEYS = ("key_fact_recall", "behaviour_accuracy")


# --- derived figures ----------------------------------------------------------------------
def _get(data: Any, *path: Any) -> Any:
    for key in path:
        if data is None:
            return None
        if isinstance(key, int) and isinstance(data, list):
            data = data[key] if -len(data) <= key < len(data) else None
        elif isinstance(data, dict):
            data = data.get(key)
        else:
            return None
    return data


def _load_at(results: list[dict[str, Any]] | None, clients: int) -> dict[str, Any] | None:
    return next((r for r in results or [] if r.get("clients") == clients), None)


def scale_point(bench: dict[str, Any], size: int) -> dict[str, Any] | None:
    return next((p for p in _get(bench, "scale", "points") or [] if p.get("size") == size), None)


def quality(path: Path) -> dict[str, Any] | None:
    """Ours and the baseline's quality from the latest evaluation run, when there is one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ours, base = data.get("metrics") or {}, data.get("baseline") or {}
    if not ours or not base:
        return None
    out: dict[str, Any] = {"source": str(path), "run": _get(data, "run", "started")}
    for key in QUALITY_KEYS:
        out[key] = {
            "ours": ours.get(key),
            "peer": base.get(key),
            "ratio": ratio(ours.get(key), base.get(key)),
        }
    return out


def comparison(bench: dict[str, Any], quality_path: Path) -> dict[str, Any]:
    """Ours / peer: latency (in process, same questions, same run), throughput (threads in
    process), quality (latest evaluation run)."""
    inproc = bench.get("inproc") or {}
    ours_lat = _get(inproc, "ours_latency", "wall_ms") or {}
    peer_lat = _get(inproc, "peer", "latency", "wall_ms") or {}
    out: dict[str, Any] = {
        "latency": {
            q: {
                "ours": ours_lat.get(q),
                "peer": peer_lat.get(q),
                "ratio": ratio(ours_lat.get(q), peer_lat.get(q)),
            }
            for q in ("p50", "p95")
        },
        "throughput": [],
        "quality": quality(quality_path),
    }
    for ours in inproc.get("ours_throughput") or []:
        peer = _load_at(_get(inproc, "peer", "throughput"), ours["clients"]) or {}
        out["throughput"].append(
            {
                "clients": ours["clients"],
                "ours": ours.get("answers_per_s"),
                "peer": peer.get("answers_per_s"),
                "ratio": ratio(ours.get("answers_per_s"), peer.get("answers_per_s")),
            }
        )
    return out


def _target(key: str, goal: str, value: Any, met: bool | None, note: str = "") -> dict[str, Any]:
    status = "not measured" if met is None else ("met" if met else "not met")
    return {"key": key, "goal": goal, "value": value, "status": status, "note": note}


def targets(bench: dict[str, Any]) -> list[dict[str, Any]]:
    ask = _get(bench, "http", "sequential", "/v1/ask", "wall_ms") or {}
    p50, p95 = ask.get("p50"), ask.get("p95")
    at16 = _load_at(_get(bench, "http", "load"), 16)
    ingest = bench.get("ingest") or {}
    share = ingest.get("pipeline_vs_raw")
    noop = ingest.get("noop_reingest_cli_seconds")
    rows = [
        _target(
            "ask_p50_http",
            "/v1/ask p50 end to end over HTTP <= 50 ms",
            f"{p50:.1f} ms" if p50 is not None else None,
            None if p50 is None else p50 <= 50,
            "one client, dev set",
        ),
        _target(
            "ask_p95_http",
            "/v1/ask p95 end to end over HTTP <= 150 ms",
            f"{p95:.1f} ms" if p95 is not None else None,
            None if p95 is None else p95 <= 150,
            "one client, dev set",
        ),
    ]
    other = _get(bench, "http", "languages", "other", "wall_ms", "p95")
    if other is not None:
        rows.append(
            _target(
                "ask_p95_http_languages",
                "/v1/ask p95 end to end over HTTP <= 150 ms, questions not in English",
                f"{other:.1f} ms",
                other <= 150,
                "one client, the 23 other official languages (multilingual dev set)",
            )
        )
    if at16:
        value = f"{at16['answers_per_s']:.1f} answers/s, {at16['errors']} errors"
        met = at16["answers_per_s"] >= 40 and at16["errors"] == 0
    else:
        value, met = None, None
    rows.append(
        _target(
            "throughput_16",
            ">= 40 answers/s at 16 clients, no errors",
            value,
            met,
            "locust, closed loop, /v1/ask",
        )
    )
    rows.append(
        _target(
            "ingest_vs_raw",
            "ingest >= 80% of the raw model's throughput",
            f"{share:.0%}" if share is not None else None,
            None if share is None else share >= 0.8,
            "whole job (model load included) vs the model alone on the same texts",
        )
    )
    inproc_noop = ingest.get("noop_reingest_seconds")
    rows.append(
        _target(
            "noop_reingest",
            "no-change re-ingest <= 5 s",
            f"{noop:.2f} s (CLI), {inproc_noop:.2f} s (in process)" if noop is not None else None,
            None if noop is None else noop <= 5,
            "`python -m ingest` wall time, process start and imports included",
        )
    )
    small, big = scale_point(bench, 1000), scale_point(bench, 1_000_000)
    small_p95 = _get(small, "query", "fused_ms", "p95")
    big_p95 = _get(big, "query", "fused_ms", "p95")
    if small_p95 and big_p95:
        r = big_p95 / small_p95
        rows.append(
            _target(
                "fused_1m_vs_1k",
                "fused query p95 at 1M chunks <= 3x that at 1k",
                f"{r:.2f}x ({big_p95:.1f} vs {small_p95:.1f} ms)",
                r <= 3,
            )
        )
    else:
        largest = max(
            (p for p in _get(bench, "scale", "points") or [] if _get(p, "query", "fused_ms")),
            key=lambda p: p["size"],
            default=None,
        )
        note = "run `make bench-scale` for the 100k and 1M points"
        if largest and small_p95 and largest["size"] > 1000:
            lp95 = largest["query"]["fused_ms"]["p95"]
            note += f"; at {largest['size']:,} chunks: {lp95 / small_p95:.2f}x the 1k p95"
        rows.append(
            _target(
                "fused_1m_vs_1k", "fused query p95 at 1M chunks <= 3x that at 1k", None, None, note
            )
        )
    return rows


# --- plots --------------------------------------------------------------------------------
def plots(bench: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: list[str] = []
    points = sorted(
        (p for p in _get(bench, "scale", "points") or [] if p.get("query")),
        key=lambda p: p["size"],
    )
    if points:
        sizes = [p["size"] for p in points]
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
        for kind, colour in (("dense", "tab:blue"), ("bm25", "tab:orange"), ("fused", "tab:green")):
            p50 = [p["query"][f"{kind}_ms"]["p50"] for p in points]
            p95 = [p["query"][f"{kind}_ms"]["p95"] for p in points]
            left.plot(sizes, p50, "o-", color=colour, label=f"{kind} p50")
            left.plot(sizes, p95, "s--", color=colour, alpha=0.6, label=f"{kind} p95")
        left.set(
            xscale="log",
            yscale="log",
            xlabel="chunks in the index",
            ylabel="ms per query",
            title="Retrieval latency vs index size",
        )
        left.grid(True, which="both", alpha=0.3)
        left.legend(fontsize=8)
        insert = [_get(p, "build", "insert_seconds") for p in points]
        disk = [
            (_get(p, "build", "chroma_mb") or 0) + (_get(p, "build", "bm25_mb") or 0)
            for p in points
        ]
        rss = [_get(p, "query", "rss_after_queries_mb") for p in points]
        right.plot(sizes, insert, "o-", label="Chroma insert (s)")
        right.plot(sizes, disk, "s-", label="index on disk (MB)")
        right.plot(sizes, rss, "^-", label="query process RSS (MB)")
        right.set(
            xscale="log",
            yscale="log",
            xlabel="chunks in the index",
            title="Build time, disk and memory vs index size",
        )
        right.grid(True, which="both", alpha=0.3)
        right.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "scale.png", dpi=110)
        plt.close(fig)
        made.append("scale.png")

    steps = _get(bench, "inproc", "ours_latency", "steps_ms") or {}
    if steps:
        names = [n for n in steps if n != "total"]
        fig, ax = plt.subplots(figsize=(9, 4.5))
        y = range(len(names))
        ax.barh([i + 0.2 for i in y], [steps[n]["p50"] or 0 for n in names], 0.4, label="p50")
        ax.barh([i - 0.2 for i in y], [steps[n]["p95"] or 0 for n in names], 0.4, label="p95")
        ax.set_yticks(list(y), names)
        ax.invert_yaxis()
        ax.set(xlabel="ms", title="Pipeline steps in process (dev set)")
        ax.legend()
        ax.grid(True, axis="x", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "steps.png", dpi=110)
        plt.close(fig)
        made.append("steps.png")

    http_load = _get(bench, "http", "load") or []
    ours_t = _get(bench, "inproc", "ours_throughput") or []
    peer_t = _get(bench, "inproc", "peer", "throughput") or []
    if http_load or ours_t:
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
        for rows, label in (
            (http_load, "ours, HTTP (locust)"),
            (ours_t, "ours, in process"),
            (peer_t, "peer, in process"),
        ):
            if rows:
                xs = [r["clients"] for r in rows]
                left.plot(xs, [r["answers_per_s"] for r in rows], "o-", label=label)
                right.plot(xs, [r["latency_ms"]["p95"] for r in rows], "o-", label=label)
        left.axhline(40, color="grey", linestyle=":", label="target at 16 clients")
        left.set(
            xscale="log",
            xlabel="concurrent clients",
            ylabel="answers per second",
            title="Throughput",
        )
        right.set(
            xscale="log",
            yscale="log",
            xlabel="concurrent clients",
            ylabel="ms",
            title="p95 latency under load",
        )
        levels = sorted({r["clients"] for rows in (http_load, ours_t, peer_t) for r in rows})
        for ax in (left, right):
            ax.set_xticks(levels, [str(n) for n in levels])
            ax.minorticks_off()
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "throughput.png", dpi=110)
        plt.close(fig)
        made.append("throughput.png")

    ingest = bench.get("ingest") or {}
    if ingest.get("seconds"):
        fig, ax = plt.subplots(figsize=(8, 3.2))
        cold = _coldstart(ingest)
        start = (
            sum(
                cold.get(k) or 0
                for k in ("import_torch_seconds", RUNTIME_IMPORT, "load_weights_seconds")
            )
            + (cold.get("first_query_ms") or 0) / 1000
        )
        parts = [
            ("raw model, same texts", ingest.get("raw_seconds") or 0),
            ("model cold start (imports, weights)", start),
            ("pipeline: embedding (incl. model load)", ingest.get("embedding_seconds") or 0),
            ("pipeline: whole job", ingest.get("seconds") or 0),
        ]
        ax.barh(
            [p[0] for p in parts],
            [p[1] for p in parts],
            color=["tab:green", "tab:grey", "tab:blue", "tab:orange"],
        )
        ax.invert_yaxis()
        ax.set(xlabel="seconds", title=f"Ingest of {ingest.get('chunks')} chunks")
        ax.grid(True, axis="x", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "ingest.png", dpi=110)
        plt.close(fig)
        made.append("ingest.png")
    return made


# --- markdown -----------------------------------------------------------------------------
def _f(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value}{unit}"


def _dist_row(name: str, d: dict[str, Any] | None) -> list[Any]:
    d = d or {}
    return [
        name,
        _f(d.get("p50")),
        _f(d.get("p95")),
        _f(d.get("p99")),
        _f(d.get("mean")),
        _f(d.get("n")),
    ]


def render(bench: dict[str, Any]) -> str:
    m = bench.get("machine") or {}
    v = m.get("versions") or {}
    lines = [
        "# Performance benchmark",
        "",
        f"- **Date:** {bench.get('date')}  ",
        f"- **Command:** `{bench.get('command')}`  ",
        f"- **Code:** commit {_get(bench, 'git', 'commit') or '?'}"
        + (" with uncommitted changes" if _get(bench, "git", "dirty") else ""),
        f"- **Machine:** {m.get('cpu')}, {m.get('cores_logical')} logical cores, "
        f"{m.get('ram_gb')} GB RAM, {m.get('os')}",
        f"- **Software:** Python {m.get('python')}, torch {v.get('torch')}, "
        f"sentence-transformers {v.get('sentence-transformers')}, chromadb {v.get('chromadb')}, "
        f"bm25s {v.get('bm25s')}, FastAPI {v.get('fastapi')}, uvicorn {v.get('uvicorn')}, "
        f"locust {v.get('locust')}",
        f"- **Embedding:** {_get(bench, 'ingest', 'model') or '?'} on "
        f"`{_get(bench, 'ingest', 'device') or bench.get('embedding_device') or '?'}`, "
        f"batch {_get(bench, 'ingest', 'batch_size') or '?'}",
        f"- **Load average (1/5/15 min):** {m.get('load_average_start')} at the start, "
        f"{bench.get('load_average_end')} at the end; total run {_f(bench.get('seconds'))} s",
        "",
    ]
    load = (m.get("load_average_start") or [0])[0]
    cores = m.get("cores_logical") or 1
    if load > 0.5 * cores:
        lines += [
            f"> **The machine was busy** (load average {load} on {cores} cores when the run "
            "started): other processes competed for the CPU, so absolute times are inflated "
            "and noisy. Ratios measured in the same run (ours vs the peer, pipeline vs raw "
            "model) are more robust than absolute figures. Re-run on a quiet machine.",
            "",
        ]
    for part, message in (bench.get("errors") or {}).items():
        lines += [f"> **{part} failed:** {message.splitlines()[0] if message else ''}", ""]

    lines += ["## Targets", ""]
    lines += markdown_table(
        ["goal", "measured", "status", "note"],
        [
            [t["goal"], t["value"] or "–", f"**{t['status']}**", t["note"]]
            for t in bench.get("targets") or []
        ],
    )
    lines.append("")

    lines += _ingest_section(bench)
    lines += _scale_section(bench)
    lines += _query_section(bench)
    lines += _throughput_section(bench)
    lines += _peer_section(bench)
    lines += _profile_section(bench)
    lines += [
        "## Method",
        "",
        "- Every part that loads a model or an index runs in its own process (`python -m "
        "bench worker PART`), so each memory figure is that part's own.",
        "- Ingestion: a fresh temporary index of the default corpus (no embedding cache); the "
        "raw model then embeds the same unique texts (chunk texts with their section path, and "
        "every sentence) with the same batch size through `Embedder.embed_passages`, after one "
        "warm-up batch. The ratio of chunks per second is the pipeline's efficiency.",
        "- Scale curve: synthetic indexes built from the real corpus (vectors: a real chunk or "
        "sentence vector plus up to half of another, plus Gaussian noise, renormalised; texts: "
        "2-6 real sentences reshuffled under a real title and section); retrieval through the "
        "project's own `IndexReader.dense`, `IndexReader.lexical` and `rag.retrieval.fuse` "
        "with the retriever's `fetch_k`, for dev questions embedded once.",
        "- Query latency in process: `Assistant.ask` on every dev question (after a warm-up), "
        "interleaved with the peer; steps from `Answer.timings`, end to end from the wall "
        "clock. Over HTTP: a uvicorn server started as `uvicorn api.main:app` on a free "
        "loopback port with the workers and torch threads `make run` uses (EMN_API_WORKERS, "
        "EMN_TORCH_THREADS resolved on this machine, unless `--workers`/`--torch-threads` "
        "override them), one client, one request at a time.",
        "- The query-vector cache (EMN_QUERY_CACHE_SIZE) is off in the benchmarked server and "
        "in process: the runs repeat the dev questions, and every figure is meant to be that "
        "of a question the service has not seen.",
        "- Throughput: Locust (headless, FastHttpUser, no think time) posting dev questions to "
        "/v1/ask; the load generator shares the machine's cores with the server. In process: "
        "N threads calling `ask` in a loop.",
        "- Profile: pyinstrument (1 ms interval) over `Assistant.ask` for the whole dev set, a "
        "pass separate from the latency pass.",
        "",
    ]
    return "\n".join(lines)


def _ingest_section(bench: dict[str, Any]) -> list[str]:
    ing = bench.get("ingest")
    if not ing:
        return ["## Ingestion", "", "Not measured in this run.", ""]
    lines = ["## Ingestion", ""]
    lines += markdown_table(
        ["measure", "value"],
        [
            [
                "documents / chunks / sentences",
                f"{ing.get('documents')} / {ing.get('chunks')} / {ing.get('sentences')}",
            ],
            ["texts embedded (unique chunk and sentence texts)", _f(ing.get("texts_embedded"))],
            ["whole job", f"{_f(ing.get('seconds'), 2)} s"],
            [
                "of which embedding (model load included)",
                f"{_f(ing.get('embedding_seconds'), 2)} s",
            ],
            [
                "of which the rest (read, chunk, write, BM25)",
                f"{_f(ing.get('non_embedding_seconds'), 2)} s",
            ],
            [
                "cold start of the model (another process): import torch, import "
                f"{_get(ing, 'coldstart', 'runtime') or 'sentence-transformers'}, load "
                "weights, first query, second query",
                f"{_f(_get(ing, 'coldstart', 'import_torch_seconds'), 2)} s, "
                f"{_f(_coldstart(ing)[RUNTIME_IMPORT], 2)} s, "
                f"{_f(_get(ing, 'coldstart', 'load_weights_seconds'), 2)} s, "
                f"{_f(_get(ing, 'coldstart', 'first_query_ms'))} ms, "
                f"{_f(_get(ing, 'coldstart', 'second_query_ms'))} ms",
            ],
            [
                "pipeline throughput",
                f"{_f(ing.get('pipeline_chunks_per_s'), 2)} chunks/s "
                f"({_f(ing.get('pipeline_texts_per_s'), 1)} texts/s)",
            ],
            [
                "raw model on the same texts",
                f"{_f(ing.get('raw_seconds'), 2)} s = "
                f"{_f(ing.get('raw_chunks_per_s'), 2)} chunks/s "
                f"({_f(ing.get('raw_texts_per_s'), 1)} texts/s)",
            ],
            ["pipeline / raw", _f(ing.get("pipeline_vs_raw"), 3)],
            [
                "pipeline / raw, the model's cold start (imports, weights, first call) left "
                "out (cold start measured in another process; about 1 = nothing but start-up)",
                _f(_warm_share(ing), 3),
            ],
            [
                "no-change re-ingest, `python -m ingest` (CLI wall)",
                f"{_f(ing.get('noop_reingest_cli_seconds'), 2)} s",
            ],
            ["no-change re-ingest, in process", f"{_f(ing.get('noop_reingest_seconds'), 3)} s"],
            ["peak memory (RSS) of the ingest process", f"{_f(ing.get('peak_rss_ingest_mb'))} MB"],
        ],
    )
    lines.append("")
    if "ingest.png" in (bench.get("plots") or []):
        lines += ["![ingest](ingest.png)", ""]
    return lines


RUNTIME_IMPORT = "import_runtime_seconds"


def _coldstart(ing: dict[str, Any]) -> dict[str, Any]:
    """The model's cold start, with the seconds to import its runtime library under one key
    (older reports: `import_sentence_transformers_seconds`)."""
    cold = dict(ing.get("coldstart") or {})
    older = cold.get("import_sentence_transformers_seconds")
    cold[RUNTIME_IMPORT] = cold.get(RUNTIME_IMPORT, older)
    return cold


def _warm_share(ing: dict[str, Any]) -> float | None:
    """Pipeline efficiency once the fixed cost of starting the model is set aside."""
    cold = _coldstart(ing)
    parts = ("import_torch_seconds", RUNTIME_IMPORT, "load_weights_seconds")
    if cold[RUNTIME_IMPORT] is None:
        return None
    if not ing.get("seconds") or not ing.get("raw_seconds") or not all(k in cold for k in parts):
        return None
    start = sum(cold[k] for k in parts) + (cold.get("first_query_ms") or 0) / 1000
    rest = ing["seconds"] - start
    return round(ing["raw_seconds"] / rest, 3) if rest > 0 else None


def _scale_section(bench: dict[str, Any]) -> list[str]:
    points = sorted(_get(bench, "scale", "points") or [], key=lambda p: p["size"])
    lines = ["## Scale curve", ""]
    if not points:
        return [*lines, "Not measured in this run.", ""]
    rows = []
    for p in points:
        b, q = p.get("build") or {}, p.get("query") or {}
        disk = (b.get("chroma_mb") or 0) + (b.get("bm25_mb") or 0)
        rows.append(
            [
                f"{p['size']:,}",
                _f(b.get("insert_seconds")),
                _f(b.get("insert_per_s"), 0),
                _f(b.get("bm25_build_seconds"), 2),
                _f(disk),
                _f(_get(q, "dense_ms", "p50"), 2),
                _f(_get(q, "dense_ms", "p95"), 2),
                _f(_get(q, "bm25_ms", "p50"), 2),
                _f(_get(q, "bm25_ms", "p95"), 2),
                _f(_get(q, "fused_ms", "p50"), 2),
                _f(_get(q, "fused_ms", "p95"), 2),
                _f(q.get("first_dense_ms"), 1),
                _f(q.get("rss_after_queries_mb"), 0),
                _f(b.get("peak_rss_build_mb"), 0),
                (p.get("date") or "")[:16].replace("T", " "),
            ]
        )
    lines += markdown_table(
        [
            "chunks",
            "insert s",
            "insert/s",
            "BM25 build s",
            "disk MB",
            "dense p50",
            "dense p95",
            "BM25 p50",
            "BM25 p95",
            "fused p50",
            "fused p95",
            "1st query ms",
            "query RSS MB",
            "build peak MB",
            "measured (UTC)",
        ],
        rows,
    )
    lines.append("")
    q0 = _get(points[0], "query") or {}
    lines += [
        f"Latencies in ms over {q0.get('queries', '?')} dev questions, `fetch_k` = "
        f"{q0.get('fetch_k', '?')}; 'fused' = dense and BM25 as `HybridRetriever.ranked` runs "
        "them (one after the other below 50k chunks, at once from 50k on: the dense query in a "
        "second thread) + reciprocal rank fusion. Points measured before commit 4caab51 ran "
        "them one after the other at every size. Each question runs dense alone, BM25 alone, "
        "then fused, so the fused run finds that question's index pages and columns already "
        "in memory and cache (dense p95 at 1M includes first touches of the Chroma index). "
        "Memory: RSS of the process that opened the index and ran the queries.",
        "",
    ]
    if "scale.png" in (bench.get("plots") or []):
        lines += ["![scale curve](scale.png)", ""]
    ing = bench.get("ingest") or {}
    s = ing.get("sentences_per_chunk")
    raw = ing.get("raw_texts_per_s")
    per_chunk_rest = (
        ing["non_embedding_seconds"] / ing["chunks"]
        if ing.get("chunks") and ing.get("non_embedding_seconds") is not None
        else None
    )
    lines += ["### What a real corpus of that size would take to ingest", ""]
    if not raw:
        return [*lines, "No ingestion measurement in this run.", ""]
    rows = []
    for p in points:
        proj = p.get("projected_ingest") or {}
        b = p.get("build") or {}
        stores = None
        if b.get("insert_seconds") is not None:
            stores = (b["insert_seconds"] + (b.get("bm25_build_seconds") or 0)) / 3600
        rest = p["size"] * per_chunk_rest / 3600 if per_chunk_rest is not None else None
        rows.append(
            [
                f"{p['size']:,}",
                _f(proj.get("texts")),
                _f(proj.get("embedding_hours"), 2),
                _f(proj.get("pipeline_hours"), 2),
                _f(stores, 3),
                _f(rest, 2),
            ]
        )
    lines += markdown_table(
        [
            "chunks",
            "texts to embed",
            "embedding alone (h)",
            "at the measured pipeline efficiency (h)",
            "Chroma insert + BM25 build, measured at that size (h)",
            "other work, upper bound (h)",
        ],
        rows,
    )
    lines.append("")
    lines += [
        f"Texts = chunks × (1 + {s} sentences per chunk, as measured on the corpus); the raw "
        f"model embeds {raw} texts/s on this machine (`{ing.get('device')}`). The pipeline "
        "column divides by the measured pipeline / raw ratio. The last column is N × t_rest "
        f"with t_rest = {_f(per_chunk_rest and per_chunk_rest * 1000, 2)} ms per chunk: the "
        "measured job minus its embedding (reading, chunking, sentence splitting, writing, "
        "BM25), which on a small corpus is mostly fixed start-up cost (tokenizer, Chroma "
        "client), so it is a loose upper bound.",
        "",
        "**An accelerator** (`EMN_EMBEDDING_DEVICE=cuda` or `mps`) changes only the embedding "
        "term. No GPU is available here, so it is not measured; the estimate is "
        "`T(N) = N × (1 + s) / R_device + N × t_rest + N / R_insert(N) + T_bm25(N)`, with "
        "`R_device` the device's texts per second for this model and batch size (measure it "
        "with `EMN_EMBEDDING_DEVICE=cuda python -m bench run --only ingest`, and raise "
        "`EMN_EMBEDDING_BATCH_SIZE` on a GPU), `R_insert(N)` and `T_bm25(N)` the Chroma insert "
        "rate and BM25 build time measured above. Once embedding is fast, the Chroma "
        "insert and the BM25 rebuild (of the whole index, on every change) become the floor.",
        "",
    ]
    return lines


def _query_section(bench: dict[str, Any]) -> list[str]:
    lines = ["## Query latency", ""]
    inproc = bench.get("inproc") or {}
    lat = inproc.get("ours_latency")
    if lat:
        lines += [f"### In process (`Assistant.ask`, {inproc.get('questions')} dev questions)", ""]
        total = _get(lat, "steps_ms", "total") or {}
        total_sum = (total.get("mean") or 0) * (total.get("n") or 0)
        rows = []
        for name, d in lat["steps_ms"].items():
            step_sum = (d.get("mean") or 0) * (d.get("n") or 0)
            share = step_sum / total_sum if total_sum and name != "total" else None
            rows.append([*_dist_row(name, d), _f(share and share * 100, 1, " %")])
        rows.append([*_dist_row("end to end (wall)", lat.get("wall_ms")), ""])
        lines += markdown_table(
            ["step", "p50 ms", "p95 ms", "p99 ms", "mean ms", "n", "share of the time"], rows
        )
        lines.append("")
        lines += [
            "A question declined by the input guard skips the later steps (their n is smaller).",
            "",
        ]
        lines += markdown_table(
            ["behaviour", "p50 ms", "p95 ms", "p99 ms", "mean ms", "n"],
            [_dist_row(b, d) for b, d in (lat.get("by_behaviour_ms") or {}).items()],
        )
        lines.append("")
        if "steps.png" in (bench.get("plots") or []):
            lines += ["![steps](steps.png)", ""]
    comp = inproc.get("components_ms")
    if comp:
        lines += ["Parts of the retrieve step, each timed alone:", ""]
        lines += markdown_table(
            ["part", "p50 ms", "p95 ms", "p99 ms", "mean ms", "n"],
            [_dist_row(k, d) for k, d in comp.items()],
        )
        lines.append("")
    seq = _get(bench, "http", "sequential")
    if seq:
        lines += ["### Over HTTP (one client, one request at a time)", ""]
        rows = []
        for endpoint, d in seq.items():
            wall, pipe = d.get("wall_ms") or {}, d.get("pipeline_ms") or {}
            overhead = wall["p50"] - pipe["p50"] if wall.get("p50") and pipe.get("p50") else None
            rows.append(
                [
                    endpoint,
                    _f(wall.get("p50")),
                    _f(wall.get("p95")),
                    _f(wall.get("p99")),
                    _f(pipe.get("p50")),
                    _f(overhead),
                    f"{d.get('errors')}/{d.get('requests')}",
                ]
            )
        lines += markdown_table(
            [
                "endpoint",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "server-side pipeline p50",
                "HTTP + service overhead p50",
                "errors",
            ],
            rows,
        )
        lines.append("")
        http = bench.get("http") or {}
        languages = http.get("languages") or {}
        if languages:
            lines += [
                "`/v1/ask` per language (multilingual dev set, one request at a time): a "
                "question not in English also takes the multilingual model's embeddings.",
                "",
            ]
            lines += markdown_table(
                ["language", "p50 ms", "p95 ms", "max ms", "errors"],
                [
                    [
                        "all but English" if code == "other" else code,
                        _f(_get(d, "wall_ms", "p50")),
                        _f(_get(d, "wall_ms", "p95")),
                        _f(_get(d, "wall_ms", "max")),
                        f"{d.get('errors', 0)}/{d.get('requests')}",
                    ]
                    for code, d in languages.items()
                ],
            )
            lines.append("")
        lines += [
            f"Server: {server_line(http)}; ready "
            f"{_f(http.get('start_seconds'))} s after launch (imports, model, index). The overhead "
            "column is the wall time minus the time the pipeline reports (/v1/search `took_ms`, "
            "/v1/ask `timings.total`): routing, validation, the audit record, JSON.",
            "",
        ]
    return lines


def server_line(http: dict[str, Any]) -> str:
    """How the benchmarked server ran: workers, torch threads, the query-vector cache."""
    workers = http.get("workers")
    threads = http.get("torch_threads", "?")
    each = f"{threads} torch thread(s) each" if isinstance(threads, int) else f"torch {threads}"
    line = f"`uvicorn api.main:app --workers {workers}`, {workers} worker process(es), {each}"
    if "query_cache_size" in http:  # recorded since the cache exists
        cache = http["query_cache_size"]
        line += (
            ", query-vector cache off (EMN_QUERY_CACHE_SIZE=0: the load repeats the dev "
            "questions, so every figure is that of a question not seen before)"
            if cache == 0
            else f", query-vector cache of {cache} entries"
        )
    return line


def _rss_scope(http: dict[str, Any]) -> str:
    workers = http.get("workers") or 1
    return f", summed over the uvicorn supervisor and its {workers} workers" if workers > 1 else ""


def _throughput_section(bench: dict[str, Any]) -> list[str]:
    http = bench.get("http") or {}
    lines = ["## Throughput", ""]
    if http.get("load"):
        rows = [
            [
                r["clients"],
                _f(r.get("answers_per_s"), 2),
                r.get("requests"),
                r.get("errors"),
                _f(r.get("error_rate") and r["error_rate"] * 100, 2, " %"),
                _f(_get(r, "latency_ms", "p50")),
                _f(_get(r, "latency_ms", "p95")),
                _f(_get(r, "latency_ms", "p99")),
                _f(r.get("rss_after_mb"), 0),
            ]
            for r in http["load"]
        ]
        lines += [
            f"Locust against /v1/ask, {http['load'][0].get('seconds')} s per level; server: "
            f"{server_line(http)}:",
            "",
        ]
        lines += markdown_table(
            [
                "clients",
                "answers/s",
                "requests",
                "errors",
                "error rate",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "server RSS after (MB)",
            ],
            rows,
        )
        lines.append("")
        lines += [
            f"Server memory (RSS{_rss_scope(http)}): "
            f"{_f(http.get('rss_after_start_mb'), 0)} MB after start, "
            f"{_f(http.get('rss_after_sequential_mb'), 0)} MB after the sequential pass, "
            f"{_f(http.get('rss_after_load_mb'), 0)} MB after the load.",
            "",
        ]
    errors = http.get("server_errors") or []
    if errors:
        lines += ["The server logged errors during the run (first lines):", "", "```"]
        lines += [*errors[:30], "```", ""]
    inproc = bench.get("inproc") or {}
    if inproc.get("ours_throughput"):
        lines += ["In process (threads calling `ask` in a loop, no HTTP):", ""]
        rows = []
        for who, results in (
            ("ours", inproc["ours_throughput"]),
            ("peer", _get(inproc, "peer", "throughput") or []),
        ):
            for r in results:
                rows.append(
                    [
                        who,
                        r["clients"],
                        _f(r.get("answers_per_s"), 2),
                        r.get("errors"),
                        _f(_get(r, "latency_ms", "p50")),
                        _f(_get(r, "latency_ms", "p95")),
                    ]
                )
        lines += markdown_table(
            ["system", "threads", "answers/s", "errors", "p50 ms", "p95 ms"], rows
        )
        lines.append("")
    if "throughput.png" in (bench.get("plots") or []):
        lines += ["![throughput](throughput.png)", ""]
    if len(lines) == 2:
        lines += ["Not measured in this run.", ""]
    return lines


def _peer_section(bench: dict[str, Any]) -> list[str]:
    comp = bench.get("comparison") or {}
    peer = _get(bench, "inproc", "peer")
    lines = ["## Ours vs the peer (naive LangChain RAG, `evals/baseline.py`)", ""]
    if not peer:
        return [*lines, "Not measured in this run.", ""]
    desc = peer.get("describe") or {}
    lines += [
        f"The peer: {desc.get('splitter')}, {desc.get('store')}, top {desc.get('top_k')}, "
        f"{desc.get('composer')}; {desc.get('chunks')} chunks, built in "
        f"{_f(peer.get('build_seconds'))} s (not part of its latency). Same questions, same "
        "process, same embedding model, interleaved question by question.",
        "",
    ]
    rows = []
    for q, d in (comp.get("latency") or {}).items():
        rows.append(
            [
                f"latency {q} (ms, lower is better)",
                _f(d.get("ours")),
                _f(d.get("peer")),
                _f(d.get("ratio"), 2),
            ]
        )
    for d in comp.get("throughput") or []:
        rows.append(
            [
                f"answers/s with {d['clients']} thread(s)",
                _f(d.get("ours"), 2),
                _f(d.get("peer"), 2),
                _f(d.get("ratio"), 2),
            ]
        )
    qual = comp.get("quality")
    if qual:
        for key in QUALITY_KEYS:
            d = qual.get(key) or {}
            rows.append(
                [
                    f"{key} (latest eval run)",
                    _f(d.get("ours"), 3),
                    _f(d.get("peer"), 3),
                    _f(d.get("ratio"), 2),
                ]
            )
    lines += markdown_table(["measure", "ours", "peer", "ours / peer"], rows)
    lines.append("")
    if qual:
        lines += [
            f"Quality from `{Path(qual['source']).name}` of the evaluation run of "
            f"{qual.get('run')} (`make eval`).",
            "",
        ]
    else:
        lines += [
            "No evaluation results (evals/reports/latest/results.json): run `make eval` "
            "for the quality ratio.",
            "",
        ]
    return lines


def _profile_section(bench: dict[str, Any]) -> list[str]:
    prof = _get(bench, "inproc", "profile")
    lines = ["## Profile of /v1/ask (the pipeline in process)", ""]
    if not prof:
        return [*lines, "Not profiled in this run.", ""]
    lines += [
        f"pyinstrument over `Assistant.ask` for {prof.get('questions')} dev questions: "
        f"{_f(prof.get('seconds'), 2)} s, {prof.get('samples')} samples, torch with "
        f"{_get(bench, 'inproc', 'torch_threads') or '?'} thread(s). Call tree: "
        + (
            "[profile.txt](profile.txt), interactive: [profile.html](profile.html)."
            if "profile.html" in (prof.get("files") or [])
            else "[profile.txt](profile.txt) (`--profile-html` adds the interactive view)."
        ),
        "",
        "Where the time goes, by library (self time):",
        "",
    ]
    lines += markdown_table(
        ["library", "s", "share"],
        [
            [r["library"], _f(r["seconds"], 2), _f(r["share"] * 100, 1, " %")]
            for r in prof.get("by_library_self") or []
        ][:10],
    )
    lines.append("")
    lines += ["Project functions by inclusive time (callees included):", ""]
    lines += markdown_table(
        ["function", "where", "s", "share"],
        [
            [f"`{r['function']}`", r["where"], _f(r["seconds"], 2), _f(r["share"] * 100, 1, " %")]
            for r in prof.get("top_project_inclusive") or []
        ][:20],
    )
    lines.append("")
    lines += ["Top functions by self time (where the CPU actually is):", ""]
    lines += markdown_table(
        ["function", "where", "library", "s", "share"],
        [
            [
                f"`{r['function']}`",
                r["where"],
                r["library"],
                _f(r["seconds"], 2),
                _f(r["share"] * 100, 1, " %"),
            ]
            for r in prof.get("top_self") or []
        ][:15],
    )
    lines.append("")
    return lines


def write(bench: dict[str, Any], out: Path, quality_path: Path) -> None:
    """Derive the comparison and targets, draw the plots, write bench.json and report.md."""
    out.mkdir(parents=True, exist_ok=True)
    bench["comparison"] = comparison(bench, quality_path)
    bench["targets"] = targets(bench)
    bench["plots"] = plots(bench, out)
    (out / "bench.json").write_text(json.dumps(bench, indent=2, default=str), encoding="utf-8")
    (out / "report.md").write_text(render(bench), encoding="utf-8")
