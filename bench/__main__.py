"""`python -m bench run|scale|report`: the performance benchmark (see bench/__init__.py).

python -m bench run                 # make bench: ingest, scale 1k+10k, query, load, peer
python -m bench scale --sizes 100000,1000000   # make bench-scale: adds points to bench.json
python -m bench report              # re-render report.md and plots from bench.json
python -m bench campaign --label after   # make campaign: the hardening attack campaign
python -m bench cluster             # make bench-cluster: PostgreSQL, Chroma server, two hosts
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.util import (
    DEFAULT_OUT,
    PYTHON,
    BenchError,
    child_env,
    copy_sqlite,
    git_revision,
    load_average,
    log,
    machine_info,
    run_worker,
)
from common.settings import PROJECT_ROOT

PARTS = ("ingest", "scale", "inproc", "http")
DEV_SET = PROJECT_ROOT / "evals" / "datasets" / "dev.jsonl"
LANGUAGES_SET = PROJECT_ROOT / "evals" / "datasets" / "multilingual-dev.jsonl"
QUALITY = PROJECT_ROOT / "evals" / "reports" / "latest" / "results.json"


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder")
        p.add_argument("--dataset", type=Path, default=DEV_SET, help="question set (JSONL)")
        p.add_argument(
            "--quality",
            type=Path,
            default=QUALITY,
            help="evaluation results with ours and the baseline's quality",
        )
        p.add_argument(
            "--scale-queries",
            type=int,
            help="dev questions timed at each scale point (default: all; the p95 of the first "
            "50 moved by a third between runs at 1M chunks, that of all 141 by 2 %%)",
        )

    run = sub.add_parser("run", help="the benchmark (make bench)")
    common(run)
    run.add_argument("--corpus", type=Path, help="corpus folder (default: EMN_CORPUS_DIR)")
    run.add_argument(
        "--index",
        type=Path,
        help="use this existing index instead of ingesting a fresh one (the "
        "ingest part is then skipped)",
    )
    run.add_argument("--sizes", type=_ints, default=[1000, 10000], help="scale points")
    run.add_argument("--clients", type=_ints, default=[1, 4, 16], help="concurrency levels")
    run.add_argument(
        "--duration",
        type=float,
        default=30.0,
        help="seconds of load per concurrency level over HTTP",
    )
    run.add_argument(
        "--thread-seconds",
        type=float,
        default=8.0,
        help="seconds per level of the in-process throughput runs",
    )
    run.add_argument("--limit", type=int, help="first N questions only")
    run.add_argument(
        "--languages-dataset",
        type=Path,
        default=LANGUAGES_SET,
        help="questions in the 24 official languages timed over HTTP (JSONL with `language`)",
    )
    run.add_argument(
        "--per-language",
        type=int,
        default=10,
        help="questions per language timed over HTTP, one at a time (0: none)",
    )
    run.add_argument(
        "--workers",
        type=int,
        help="uvicorn workers for the HTTP part (default: EMN_API_WORKERS resolved, as "
        "`make run` runs the API)",
    )
    run.add_argument("--only", type=lambda s: s.split(","), help=f"parts among {PARTS}")
    run.add_argument("--skip", type=lambda s: s.split(","), default=[], help="parts to skip")
    run.add_argument("--no-peer", action="store_true", help="do not run the LangChain peer")
    run.add_argument("--no-profile", action="store_true", help="do not profile")
    run.add_argument(
        "--profile-html",
        action="store_true",
        help="also save pyinstrument's interactive profile.html (several MB) to --out",
    )
    run.add_argument(
        "--torch-threads",
        type=int,
        help="torch threads in the served and in-process pipelines (default: for the server, "
        "EMN_TORCH_THREADS resolved for its workers, as `make run` runs it; in process, "
        "torch's own, one per core)",
    )
    run.add_argument("--keep", action="store_true", help="keep the temporary folder")
    run.add_argument(
        "--workdir", type=Path, help="work in this folder (kept) instead of a temporary one"
    )

    scale = sub.add_parser("scale", help="add scale points to bench.json (make bench-scale)")
    common(scale)
    scale.add_argument("--sizes", type=_ints, default=[100_000, 1_000_000])
    scale.add_argument(
        "--index", type=Path, help="real index to draw from (default: EMN_INDEX_DIR)"
    )
    scale.add_argument("--keep", action="store_true", help="keep the synthetic indexes")

    report = sub.add_parser("report", help="re-render report.md and plots from bench.json")
    report.add_argument("--out", type=Path, default=DEFAULT_OUT)
    report.add_argument("--quality", type=Path, default=QUALITY)

    campaign = sub.add_parser(
        "campaign", help="rerun the hardening fault and attack campaign (make campaign)"
    )
    campaign.add_argument(
        "--label", default="latest", help="name of this run in the report, e.g. before, after"
    )
    campaign.add_argument("--out", type=Path, default=PROJECT_ROOT / "evals/reports/campaign")

    cluster = sub.add_parser(
        "cluster",
        help="several API hosts on PostgreSQL and a Chroma server behind nginx, one killed "
        "half-way (make bench-cluster)",
    )
    cluster.add_argument("--out", type=Path, default=PROJECT_ROOT / "evals/reports/cluster")
    cluster.add_argument("--users", type=int, default=8, help="Locust users in every phase")
    cluster.add_argument(
        "--scale-seconds", type=float, default=60.0, help="load of each scaling phase"
    )
    cluster.add_argument(
        "--failover-seconds", type=float, default=90.0, help="load of the failover phase"
    )
    cluster.add_argument(
        "--down-seconds", type=float, default=5.0, help="how long the killed host stays down"
    )
    cluster.add_argument(
        "--cores", type=_ints, default=[0, 1], help="core of host 1 and of host 2 (taskset)"
    )
    cluster.add_argument("--workers", type=int, default=1, help="uvicorn workers per host")
    cluster.add_argument("--limit", type=int, help="first N dev questions only")
    cluster.add_argument("--dataset", type=Path, default=DEV_SET, help="question set (JSONL)")
    cluster.add_argument("--corpus", type=Path, help="corpus folder (default: EMN_CORPUS_DIR)")
    cluster.add_argument(
        "--workdir", type=Path, help="work in this folder (kept) instead of a temporary one"
    )

    worker = sub.add_parser("worker", help=argparse.SUPPRESS)
    worker.add_argument("part")
    worker.add_argument("params", type=Path)
    worker.add_argument("result", type=Path)
    return parser


# --- workers (each in its own process) -------------------------------------------------
def worker(part: str, params_file: Path, result_file: Path) -> int:
    params = json.loads(params_file.read_text(encoding="utf-8"))
    if part == "ingest":
        from bench.ingest_bench import run as fn
    elif part == "coldstart":
        from bench.ingest_bench import coldstart as fn
    elif part == "embed_queries":
        fn = _embed_queries_worker
    elif part.startswith("scale_build"):
        from bench.scale import build as fn
    elif part.startswith("scale_query"):
        from bench.scale import query as fn
    elif part == "inproc":
        from bench.inproc import run as fn
    else:
        print(f"unknown part {part!r}", file=sys.stderr)
        return 2
    result = fn(params)
    result_file.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return 0


def _embed_queries_worker(params: dict[str, Any]) -> dict[str, Any]:
    from bench.ingest_bench import embed_queries
    from common.settings import load_settings

    settings = load_settings(index_dir=Path(params["index_dir"]))
    seconds = embed_queries(settings, params["queries"], Path(params["queries_out"]))
    return {"seconds": round(seconds, 2), "queries": len(params["queries"])}


# --- parts run by the orchestrator ---------------------------------------------------------
def _questions(dataset: Path, limit: int | None = None) -> list[str]:
    from evals.dataset import load_dataset

    items = load_dataset(dataset)
    return [item.question for item in (items[:limit] if limit else items)]


def language_questions(dataset: Path, per_language: int) -> dict[str, list[str]]:
    """The first `per_language` questions of each language in the set, English first."""
    from evals.dataset import load_dataset

    out: dict[str, list[str]] = {}
    for item in load_dataset(dataset) if per_language > 0 else []:
        code = item.language or "en"
        if len(out.setdefault(code, [])) < per_language:
            out[code].append(item.question)
    return dict(sorted(out.items(), key=lambda kv: (kv[0] != "en", kv[0])))


def noop_reingest_cli(index_dir: Path, corpus_dir: Path) -> float:
    """Wall time of `python -m ingest` on an up-to-date index (process start included)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [PYTHON, "-m", "ingest", "--index", str(index_dir), "--corpus", str(corpus_dir), "--quiet"],
        cwd=PROJECT_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise BenchError(f"no-change re-ingest failed: {proc.stderr[-2000:]}")
    return round(seconds, 2)


def scale_points(
    sizes: list[int], index_dir: Path, questions: list[str], vectors: Path, tmp: Path, keep: bool
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    points, errors = [], {}
    for size in sizes:
        workdir = tmp / f"scale-{size}"
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            log(f"scale: building {size:,} chunks")
            build = run_worker(
                f"scale_build_{size}",
                {"size": size, "workdir": str(workdir), "base_index_dir": str(index_dir)},
                tmp / "logs",
                timeout=6 * 3600,
            )
            log(f"scale: querying {size:,} chunks ({build['insert_seconds']} s to insert)")
            query = run_worker(
                f"scale_query_{size}",
                {"workdir": str(workdir), "questions": questions, "query_vectors": str(vectors)},
                tmp / "logs",
                timeout=3600,
            )
            points.append(
                {
                    "size": size,
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "load_average": load_average(),
                    "build": build,
                    "query": query,
                }
            )
        except (BenchError, subprocess.TimeoutExpired) as exc:
            errors[f"scale {size}"] = str(exc)
            log(f"scale {size} failed: {exc}")
        finally:
            if not keep:
                shutil.rmtree(workdir, ignore_errors=True)
    return points, errors


def _skeleton(argv: list[str]) -> dict[str, Any]:
    return {
        "schema": 1,
        "command": "python -m bench " + " ".join(argv),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "machine": machine_info(),
        "errors": {},
    }


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from common.settings import load_settings

    started = time.perf_counter()
    parts = [p for p in (args.only or PARTS) if p not in args.skip]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print(f"error: unknown part(s) {unknown}; parts: {', '.join(PARTS)}", file=sys.stderr)
        return 2
    settings = load_settings(**({"corpus_dir": args.corpus} if args.corpus else {}))
    corpus_dir = settings.corpus_dir
    workers = args.workers or settings.resolved_api_workers
    server_threads = args.torch_threads or settings.torch_threads_for(workers)
    questions = _questions(args.dataset, args.limit)
    scale_questions = questions[: args.scale_queries]
    bench = _skeleton(argv)
    bench["embedding_device"] = settings.embedding_device
    bench["params"] = {
        "parts": parts,
        "dataset": str(args.dataset),
        "questions": len(questions),
        "languages_dataset": str(args.languages_dataset),
        "per_language": args.per_language,
        "sizes": args.sizes,
        "clients": args.clients,
        "duration_s": args.duration,
        "thread_seconds": args.thread_seconds,
        "workers": workers,
        "torch_threads": args.torch_threads,
        "server_torch_threads": server_threads,
        "query_cache_size": 0,
        "corpus_dir": str(corpus_dir),
    }
    if args.workdir:
        tmp = args.workdir.resolve()
        tmp.mkdir(parents=True, exist_ok=True)
        args.keep = True
    else:
        tmp = Path(tempfile.mkdtemp(prefix="emn-bench-"))
    logs = tmp / "logs"
    vectors = tmp / "query-vectors.npy"
    try:
        if args.index:
            index_dir = args.index.resolve()
        elif "ingest" in parts:
            index_dir = tmp / "index"
        else:
            index_dir = settings.index_dir
        if "ingest" in parts and not args.index:
            try:
                log("ingest: cold start of the embedding model")
                cold = run_worker("coldstart", {}, logs)
                log(f"ingest: fresh index of {corpus_dir} (embedding everything; the slow part)")
                result = run_worker(
                    "ingest",
                    {
                        "index_dir": str(index_dir),
                        "corpus_dir": str(corpus_dir),
                        "queries": scale_questions if "scale" in parts else [],
                        "queries_out": str(vectors),
                    },
                    logs,
                )
                log("ingest: no-change re-ingest through the CLI")
                result["noop_reingest_cli_seconds"] = noop_reingest_cli(index_dir, corpus_dir)
                result["coldstart"] = cold
                bench["ingest"] = result
            except (BenchError, subprocess.TimeoutExpired) as exc:
                bench["errors"]["ingest"] = str(exc)
                log(f"ingest failed: {exc}")
        if not (index_dir / "manifest.json").exists():
            raise BenchError(f"no index at {index_dir}: run `python -m ingest` first")

        if "scale" in parts:
            try:
                if not vectors.exists():
                    run_worker(
                        "embed_queries",
                        {
                            "index_dir": str(index_dir),
                            "queries": scale_questions,
                            "queries_out": str(vectors),
                        },
                        logs,
                    )
                points, errors = scale_points(
                    args.sizes, index_dir, scale_questions, vectors, tmp, args.keep
                )
                bench["scale"] = {"points": points, "queries": len(scale_questions)}
                bench["errors"].update(errors)
            except BenchError as exc:
                bench["errors"]["scale"] = str(exc)

        if "inproc" in parts:
            log("in process: latency (ours and the peer), profile, threads")
            peer_cache = tmp / "peer-embedding-cache.sqlite"
            from evals.baseline import cache_path_for

            copy_sqlite(cache_path_for(settings), peer_cache) or copy_sqlite(
                index_dir / "embedding-cache.sqlite", peer_cache
            )
            try:
                bench["inproc"] = run_worker(
                    "inproc",
                    {
                        "index_dir": str(index_dir),
                        "corpus_dir": str(corpus_dir),
                        "dataset": str(args.dataset),
                        "limit": args.limit,
                        "clients": args.clients,
                        "throughput_seconds": args.thread_seconds,
                        "peer": not args.no_peer,
                        "peer_cache": str(peer_cache),
                        "profile": not args.no_profile,
                        "profile_html": args.profile_html,
                        "torch_threads": args.torch_threads,
                        "profile_dir": str(args.out),
                    },
                    logs,
                )
            except (BenchError, subprocess.TimeoutExpired) as exc:
                bench["errors"]["inproc"] = str(exc)
                log(f"in process failed: {exc}")

        if "http" in parts:
            from bench import http_bench

            try:
                bench["http"] = http_bench.run(
                    index_dir,
                    corpus_dir,
                    questions,
                    tmp / "http",
                    args.clients,
                    args.duration,
                    workers=workers,
                    torch_threads=server_threads,
                    languages=language_questions(args.languages_dataset, args.per_language),
                )
            except (BenchError, subprocess.TimeoutExpired) as exc:
                bench["errors"]["http"] = str(exc)
                log(f"HTTP failed: {exc}")
    except BenchError as exc:
        bench["errors"]["run"] = str(exc)
        log(str(exc))
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    _keep_opt_in_points(bench, args.out / "bench.json")
    bench["load_average_end"] = load_average()
    bench["seconds"] = round(time.perf_counter() - started, 1)
    _write(bench, args.out, args.quality)
    return 1 if bench["errors"] else 0


def cmd_cluster(args: argparse.Namespace, argv: list[str]) -> int:
    """The cluster benchmark; exit 1 when a part could not run (a missed target is a
    figure in the report, not a failure of the command)."""
    from bench import cluster_report
    from bench.cluster import ClusterParams, run_cluster

    started = time.perf_counter()
    try:
        params = ClusterParams(
            users=args.users,
            scale_seconds=args.scale_seconds,
            failover_seconds=args.failover_seconds,
            down_seconds=args.down_seconds,
            cores=args.cores,
            workers=args.workers,
            questions=args.limit,
            corpus_dir=args.corpus,
            dataset=args.dataset,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = _skeleton(argv)
    result["servers"] = cluster_report.server_versions()
    result["db_versions"] = {name: _package_version(name) for name in ("psycopg", "sqlalchemy")}
    result.update(run_cluster(params, args.workdir))
    result["load_average_end"] = load_average()
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = args.out.resolve()
    cluster_report.write(result, out)
    log(f"wrote {out / 'cluster.json'} and {out / 'report.md'}")
    for target in result["targets"]:
        log(f"target: {target['goal']}: {target['value']} ({target['status']})")
    for part, message in result["errors"].items():
        log(f"FAILED {part}: {message.splitlines()[0] if message else ''}")
    return 1 if result["errors"] else 0


def _package_version(name: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _keep_opt_in_points(bench: dict[str, Any], previous: Path) -> None:
    """Scale points of an earlier `bench scale` (sizes this run did not measure) are kept,
    with their own date, so `make bench` does not discard the hour-long 1M measurement."""
    if "scale" not in bench or not previous.exists():
        return
    try:
        old = json.loads(previous.read_text(encoding="utf-8"))
    except ValueError:
        return
    measured = {p["size"] for p in bench["scale"]["points"]}
    kept = [p for p in _get_points(old) if p.get("size") not in measured]
    if kept:
        bench["scale"]["points"] = sorted(bench["scale"]["points"] + kept, key=lambda p: p["size"])
        bench["scale_runs"] = old.get("scale_runs", [])


def cmd_scale(args: argparse.Namespace, argv: list[str]) -> int:
    from common.settings import load_settings

    started = time.perf_counter()
    settings = load_settings(**({"index_dir": args.index} if args.index else {}))
    index_dir = settings.index_dir
    if not (index_dir / "manifest.json").exists():
        print(f"error: no index at {index_dir}: run `python -m ingest` first", file=sys.stderr)
        return 2
    existing = args.out / "bench.json"
    bench = (
        json.loads(existing.read_text(encoding="utf-8"))
        if existing.exists()
        else _skeleton(argv) | {"seconds": 0.0}
    )
    bench.setdefault("errors", {})
    questions = _questions(args.dataset)[: args.scale_queries]
    tmp = Path(tempfile.mkdtemp(prefix="emn-bench-scale-"))
    vectors = tmp / "query-vectors.npy"
    load_start = load_average()
    try:
        run_worker(
            "embed_queries",
            {"index_dir": str(index_dir), "queries": questions, "queries_out": str(vectors)},
            tmp / "logs",
        )
        points, errors = scale_points(args.sizes, index_dir, questions, vectors, tmp, args.keep)
    except BenchError as exc:
        points, errors = [], {"scale": str(exc)}
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    scale = bench.setdefault("scale", {"points": [], "queries": len(questions)})
    sizes = {p["size"] for p in points}
    scale["points"] = sorted(
        [p for p in scale.get("points", []) if p["size"] not in sizes] + points,
        key=lambda p: p["size"],
    )
    for key in [k for k in bench["errors"] if k.startswith("scale")]:
        if any(key == f"scale {s}" for s in sizes) or key == "scale":
            del bench["errors"][key]
    bench["errors"].update(errors)
    bench.setdefault("scale_runs", []).append(
        {
            "command": "python -m bench " + " ".join(argv),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "sizes": args.sizes,
            "load_average_start": load_start,
            "load_average_end": load_average(),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    _write(bench, args.out, args.quality)
    return 1 if errors else 0


def _write(bench: dict[str, Any], out: Path, quality: Path) -> None:
    from bench import report
    from bench.scale import projected_ingest

    ingest = bench.get("ingest") or {}
    for point in _get_points(bench):
        point["projected_ingest"] = projected_ingest(
            point["size"],
            ingest.get("sentences_per_chunk") or 0.0,
            ingest.get("raw_texts_per_s"),
            ingest.get("pipeline_vs_raw"),
        )
    report.write(bench, out, quality)
    log(f"wrote {out / 'bench.json'} and {out / 'report.md'}")
    for target in bench.get("targets") or []:
        log(f"target: {target['goal']}: {target['value'] or '–'} ({target['status']})")
    for part, message in (bench.get("errors") or {}).items():
        log(f"FAILED {part}: {message.splitlines()[0] if message else ''}")


def _get_points(bench: dict[str, Any]) -> list[dict[str, Any]]:
    return (bench.get("scale") or {}).get("points") or []


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command == "worker":
        return worker(args.part, args.params, args.result)
    if args.command == "campaign":
        from bench.campaign import run_campaign

        result = run_campaign(args.label, args.out)
        met = [t for t in result["targets"] if t["met"]]
        log(f"campaign {args.label}: {len(met)} of {len(result['targets'])} targets met; "
            f"report {args.out / 'report.md'}")  # fmt: skip
        return 0
    if args.command == "cluster":
        return cmd_cluster(args, argv)
    if args.command == "report":
        path = args.out / "bench.json"
        if not path.exists():
            print(f"error: no {path}: run `python -m bench run` first", file=sys.stderr)
            return 2
        _write(json.loads(path.read_text(encoding="utf-8")), args.out, args.quality)
        return 0
    with contextlib.suppress(AttributeError):
        args.out = args.out.resolve()
    if args.command == "run":
        return cmd_run(args, argv)
    return cmd_scale(args, argv)


if __name__ == "__main__":
    sys.exit(main())
