"""The benchmark harness's pure parts: statistics, profile aggregation, targets, the report.

No model, no index, no server: these run in well under a second."""

from __future__ import annotations

import json
from pathlib import Path

from bench import report
from bench.inproc import aggregate_profile, throughput
from bench.scale import _Lexicon, projected_ingest, synthetic_vectors
from bench.util import summary


def test_summary_percentiles_interpolate_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    s = summary(values)
    assert s["p50"] == 30.0 and s["p95"] == 48.0
    assert summary([])["p50"] is None
    assert summary([7.0])["p99"] == 7.0
    assert set(s) == {"n", "mean", "p50", "p95", "p99", "max"}
    assert s["n"] == 5 and s["mean"] == 30.0 and s["max"] == 50.0


def test_synthetic_vectors_are_unit_length_and_distinct() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    bases = rng.normal(size=(7, 16)).astype(np.float32)
    bases /= np.linalg.norm(bases, axis=1, keepdims=True)
    vectors = synthetic_vectors(bases, 500, rng)
    assert vectors.shape == (500, 16) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len({v.tobytes() for v in vectors}) == 500


def test_synthetic_chunk_tokens_are_what_bm25_would_index() -> None:
    from index.lexical import lexical_text, tokenize
    from index.schema import Chunk, DocumentMeta

    sentences = ["The budget is EUR 28 200 000.", "Returns rose by 12 %.", "A", "it's Article 5."]
    headers = [("Work programme 2026", "1. Budget > Article 12"), ("Strategy", "")]
    lexicon = _Lexicon(sentences, headers)
    words = {i: t for t, i in lexicon.vocab.items()}
    for h, (title, section) in enumerate(headers):
        chunk = Chunk(
            id="c", doc=DocumentMeta(doc_id="d", title=title), ordinal=0,
            text=" ".join(sentences), section_path=section,
        )  # fmt: skip
        ids = lexicon.header_ids[h] + [i for s in lexicon.sentence_ids for i in s]
        assert [words[i] for i in ids] == tokenize(lexical_text(chunk))


def test_projected_ingest_formula() -> None:
    proj = projected_ingest(1000, 4.0, raw_texts_per_s=100.0, overhead=0.5)
    assert proj["texts"] == 5000
    assert proj["embedding_hours"] == round(50 / 3600, 3)
    assert proj["pipeline_hours"] == round(100 / 3600, 3)
    assert projected_ingest(10, 4.0, None, None)["embedding_hours"] is None


def test_throughput_counts_answers_and_errors() -> None:
    calls = []

    def ask(i: int) -> None:
        calls.append(i)
        if i == 1:
            raise ValueError("boom")

    result = throughput(ask, n_questions=3, clients=2, seconds=0.05)
    assert result["clients"] == 2
    assert result["requests"] == result["answers"] + result["errors"] == len(calls)
    assert result["errors"] >= 1
    assert set(result["latency_ms"]) >= {"p50", "p95", "p99"}


def test_profile_aggregation_shares() -> None:
    from pyinstrument import Profiler

    def inner() -> int:
        return sum(i * i for i in range(20000))

    def outer() -> int:
        return sum(inner() for _ in range(10))

    profiler = Profiler(interval=0.0005)
    profiler.start()
    outer()
    profiler.stop()
    result = aggregate_profile(profiler.last_session.root_frame())
    assert {"seconds", "top_self", "top_inclusive", "by_library_self"} <= set(result)
    names = [row["function"] for row in result["top_inclusive"]]
    assert "outer" in names and "inner" in names
    for row in result["top_inclusive"]:
        assert 0.0 <= row["share"] <= 1.0001
        assert {"function", "where", "library", "seconds", "share"} == set(row)


def _fake_bench() -> dict:
    lat = {"n": 3, "mean": 30.0, "p50": 30.0, "p95": 40.0, "p99": 41.0, "max": 42.0}
    point = lambda size, p95: {  # noqa: E731
        "size": size,
        "build": {
            "insert_seconds": 1.0,
            "insert_per_s": 1000.0,
            "bm25_build_seconds": 0.1,
            "chroma_mb": 1.0,
            "bm25_mb": 0.1,
            "peak_rss_build_mb": 200.0,
        },
        "query": {
            "queries": 3,
            "fetch_k": 40,
            "first_dense_ms": 2.0,
            "dense_ms": lat,
            "bm25_ms": lat,
            "fused_ms": {**lat, "p95": p95},
            "rss_after_queries_mb": 150.0,
        },
    }
    load = lambda n, rate, errors: {  # noqa: E731
        "clients": n,
        "seconds": 2,
        "requests": 10,
        "answers": 10 - errors,
        "errors": errors,
        "error_rate": errors / 10,
        "answers_per_s": rate,
        "latency_ms": lat,
        "rss_after_mb": 700,
    }
    return {
        "command": "python -m bench run",
        "date": "2026-01-01T00:00:00+00:00",
        "machine": {"cpu": "test cpu", "cores_logical": 2, "load_average_start": [3.0, 2, 1]},
        "errors": {},
        "ingest": {
            "chunks": 10,
            "sentences": 40,
            "sentences_per_chunk": 4.0,
            "seconds": 10.0,
            "embedding_seconds": 8.0,
            "non_embedding_seconds": 2.0,
            "raw_seconds": 6.0,
            "raw_texts_per_s": 8.0,
            "pipeline_vs_raw": 0.6,
            "noop_reingest_seconds": 0.01,
            "noop_reingest_cli_seconds": 1.5,
            "device": "cpu",
        },
        "scale": {"points": [point(1000, 2.0), point(1_000_000, 5.0)]},
        "inproc": {
            "questions": 3,
            "ours_latency": {"wall_ms": lat, "steps_ms": {"retrieve": lat, "total": lat}},
            "ours_throughput": [load(1, 20.0, 0)],
            "peer": {
                "latency": {"wall_ms": {**lat, "p50": 15.0}},
                "throughput": [load(1, 40.0, 0)],
            },
        },
        "http": {
            "workers": 1,
            "sequential": {
                "/v1/ask": {
                    "wall_ms": {**lat, "p50": 45.0, "p95": 160.0},
                    "pipeline_ms": lat,
                    "errors": 0,
                    "requests": 3,
                }
            },
            "load": [load(1, 20.0, 0), load(16, 45.0, 1)],
        },
    }


def test_targets_compare_each_goal_with_the_measure() -> None:
    rows = {t["key"]: t for t in report.targets(_fake_bench())}
    assert rows["ask_p50_http"]["status"] == "met"  # 45 <= 50
    assert rows["ask_p95_http"]["status"] == "not met"  # 160 > 150
    assert rows["throughput_16"]["status"] == "not met"  # one error
    assert rows["ingest_vs_raw"]["status"] == "not met"  # 60 %
    assert rows["noop_reingest"]["status"] == "met"
    assert rows["fused_1m_vs_1k"]["status"] == "met"  # 5.0 / 2.0 = 2.5x
    bench = _fake_bench()
    bench["scale"]["points"].pop()
    bench.pop("http")
    rows = {t["key"]: t for t in report.targets(bench)}
    assert rows["fused_1m_vs_1k"]["status"] == "not measured"
    assert rows["ask_p50_http"]["status"] == "not measured"


def test_report_writes_json_markdown_and_plots(tmp_path: Path) -> None:
    quality = tmp_path / "results.json"
    quality.write_text(
        json.dumps(
            {
                "metrics": {"key_fact_recall": 0.8, "behaviour_accuracy": 0.9},
                "baseline": {"key_fact_recall": 0.4, "behaviour_accuracy": 0.6},
                "run": {"started": "today"},
            }
        )
    )
    out = tmp_path / "bench"
    report.write(_fake_bench(), out, quality)
    data = json.loads((out / "bench.json").read_text())
    assert {"targets", "comparison", "plots"} <= set(data)
    assert data["comparison"]["latency"]["p50"]["ratio"] == 2.0  # 30 / 15
    assert data["comparison"]["throughput"][0]["ratio"] == 0.5
    assert data["comparison"]["quality"]["key_fact_recall"]["ratio"] == 2.0
    for plot in report.PLOTS:
        assert (out / plot).stat().st_size > 1000, plot
    text = (out / "report.md").read_text()
    for heading in (
        "## Targets",
        "## Ingestion",
        "## Scale curve",
        "## Query latency",
        "## Throughput",
        "## Ours vs the peer",
        "The machine was busy",
    ):
        assert heading in text


def test_report_names_how_the_server_ran() -> None:
    http = {"workers": 2, "torch_threads": 1, "query_cache_size": 0, "rss_after_start_mb": 1300}
    line = report.server_line(http)
    assert "--workers 2" in line and "1 torch thread(s) each" in line
    assert "EMN_QUERY_CACHE_SIZE=0" in line and "not seen before" in line
    assert "summed over the uvicorn supervisor and its 2 workers" in report._rss_scope(http)
    older = report.server_line({"workers": 1, "torch_threads": "default (one per core)"})
    assert "cache" not in older and "torch default (one per core)" in older  # earlier runs
    assert report._rss_scope({"workers": 1}) == ""


def test_server_errors_keep_tracebacks(tmp_path: Path) -> None:
    from bench.http_bench import server_errors

    log = tmp_path / "server.log"
    log.write_text(
        "INFO:     Started server process [1]\n"
        "ERROR:    Exception in ASGI application\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "sqlite3.OperationalError: database is locked\n"
        "INFO:     127.0.0.1 - POST /v1/ask 200\n"
    )
    lines = server_errors(log)
    assert lines[0].startswith("ERROR") and lines[-1].endswith("database is locked")
    assert not any("200" in line for line in lines)
    assert server_errors(tmp_path / "missing.log") == []
