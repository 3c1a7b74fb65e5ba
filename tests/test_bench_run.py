"""The benchmark harness end to end on tiny sizes: `python -m bench run` (ingest, a 150-chunk
scale point, in-process latency with the peer and a profile, a real uvicorn server, Locust for
two seconds) and `python -m bench scale` adding a point to the same bench.json.

It checks that every part runs and writes the files with the right keys; it asserts no
timing (a benchmark measures, a test does not)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

TEXT = """EMN work programme

The European Migration Network (EMN) provides objective, comparable and policy-relevant
information on migration and asylum. The maximum Union contribution for the work programme
2026-2027 is EUR 28 200 000. National contact points in each Member State produce studies,
informs and country factsheets. The EMN glossary defines terms used in migration policy.

Return and readmission

The strategy calls for more effective returns and stronger cooperation with third countries
on readmission. Member States exchange information on return procedures through the EMN.
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMN_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    env["EMN_API_WORKERS"] = "1"  # the benchmarked server, as resolved from the settings
    return env


def _bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=PROJECT_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("bench")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "emn-note.txt").write_text(TEXT, encoding="utf-8")
    out, work = root / "out", root / "work"
    proc = _bench(
        "run",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--workdir",
        str(work),
        "--sizes",
        "150",
        "--clients",
        "1,2",
        "--duration",
        "2",
        "--thread-seconds",
        "0.5",
        "--limit",
        "4",
        "--scale-queries",
        "4",
        "--per-language",
        "1",
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, work, json.loads((out / "bench.json").read_text(encoding="utf-8"))


def test_run_writes_every_part(bench_run: tuple[Path, Path, dict]) -> None:
    out, _, bench = bench_run
    assert bench["errors"] == {}
    assert {
        "machine",
        "command",
        "date",
        "ingest",
        "scale",
        "inproc",
        "http",
        "targets",
        "comparison",
        "plots",
    } <= set(bench)
    assert {"cpu", "cores_logical", "ram_gb", "python", "versions"} <= set(bench["machine"])
    files = bench["inproc"]["profile"]["files"]
    assert files == ["profile.txt"]  # profile.html (several MB) only with --profile-html
    for name in ("bench.json", "report.md", *files, *bench["plots"]):
        assert (out / name).stat().st_size > 0, name
    assert {"scale.png", "steps.png", "throughput.png", "ingest.png"} == set(bench["plots"])
    assert len(bench["targets"]) == 7  # with the latency of questions not in English
    assert all(t["status"] in ("met", "not met", "not measured") for t in bench["targets"])


def test_ingest_part(bench_run: tuple[Path, Path, dict]) -> None:
    ingest = bench_run[2]["ingest"]
    assert ingest["chunks"] > 0 and ingest["texts_embedded"] == ingest["unique_texts"]
    for key in (
        "seconds",
        "raw_seconds",
        "pipeline_vs_raw",
        "noop_reingest_seconds",
        "noop_reingest_cli_seconds",
        "peak_rss_ingest_mb",
        "coldstart",
    ):
        assert ingest[key] is not None, key
    assert ingest["noop_reingest_changed_chunks"] == 0


def test_scale_part(bench_run: tuple[Path, Path, dict]) -> None:
    (point,) = bench_run[2]["scale"]["points"]
    assert point["size"] == 150 and point["build"]["count"] == 150
    assert point["query"]["size"] == 150 and point["query"]["queries"] == 4
    for kind in ("dense_ms", "bm25_ms", "fused_ms"):
        assert point["query"][kind]["n"] == 4 and point["query"][kind]["p95"] is not None
    assert {"texts", "embedding_hours", "pipeline_hours"} <= set(point["projected_ingest"])


def test_query_and_peer_parts(bench_run: tuple[Path, Path, dict]) -> None:
    inproc = bench_run[2]["inproc"]
    steps = inproc["ours_latency"]["steps_ms"]
    assert {"guard_in", "total"} <= set(steps)
    assert inproc["peer"]["latency"]["wall_ms"]["n"] == 4
    assert [r["clients"] for r in inproc["ours_throughput"]] == [1, 2]
    assert [r["clients"] for r in inproc["peer"]["throughput"]] == [1, 2]
    assert inproc["profile"]["top_self"] and inproc["profile"]["by_library_self"]
    assert any(k.startswith("embed_query") for k in inproc["components_ms"])


def test_http_part(bench_run: tuple[Path, Path, dict]) -> None:
    http = bench_run[2]["http"]
    for endpoint in ("/v1/search", "/v1/ask"):
        seq = http["sequential"][endpoint]
        assert seq["requests"] == 4 and seq["errors"] == 0, seq
        assert seq["wall_ms"]["p50"] is not None
    assert [r["clients"] for r in http["load"]] == [1, 2]
    for level in http["load"]:
        assert level["requests"] > 0 and level["errors"] == 0, level
    assert http["rss_after_start_mb"] and http["rss_after_load_mb"]
    # One question of each of the 24 languages, answered without error, and the languages
    # other than English pooled for their own p95 target.
    languages = http["languages"]
    assert len(languages) == 25 and next(iter(languages)) == "en", list(languages)
    for code, timed in languages.items():
        assert timed["requests"] == (23 if code == "other" else 1)
        assert timed.get("errors", 0) == 0 and timed["wall_ms"]["p95"] is not None, code
    report = (bench_run[0] / "report.md").read_text(encoding="utf-8")
    assert "questions not in English" in report and "| all but English |" in report
    # As `make run` would run it with EMN_API_WORKERS=1: one process on every core, and no
    # query-vector cache, since the load repeats the questions.
    assert http["workers"] == 1 and http["query_cache_size"] == 0
    assert http["torch_threads"] == len(os.sched_getaffinity(0))


def test_scale_command_adds_points(bench_run: tuple[Path, Path, dict]) -> None:
    out, work, _ = bench_run
    proc = _bench(
        "scale",
        "--index",
        str(work / "index"),
        "--out",
        str(out),
        "--sizes",
        "120",
        "--scale-queries",
        "3",
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    bench = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert [p["size"] for p in bench["scale"]["points"]] == [120, 150]
    assert bench["scale_runs"][-1]["sizes"] == [120]
    assert "ingest" in bench and "http" in bench  # the earlier parts are kept
