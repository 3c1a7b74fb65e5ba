"""`python -m evals run --dataset FILE [--api URL --key KEY] [--baseline] [--out DIR]
[--composer extractive|llm] [--limit N] [--floors FILE]`; `python -m evals summary`;
`python -m evals tune [--folds K]`; `python -m evals calibrate [--folds K]`;
`python -m evals ranker [--folds K]`;
`python -m evals contradictions [--set dev|blind|FILE]`;
`python -m evals informs [--label LABEL] [--topics FILE] [--out DIR]`

Asks every question of the set (in process by default, over HTTP with --api), scores the
replies, optionally runs the naive LangChain baseline on the same questions, and writes
DIR/results.json, DIR/report.md and DIR/metrics_by_type.png.

Exit codes: 0 done; 1 a metric is below its floor (only with --floors); 2 the run could not be
made (file not found, invalid question set, service unreachable, no index).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from evals.dataset import DEV_SET, load_dataset

DEFAULT_OUT = Path(__file__).parent / "reports" / "latest"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__.split("\n\n")[1])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="evaluate a question set and write a report")
    run.add_argument(
        "--dataset",
        type=Path,
        default=DEV_SET,
        help="JSON Lines question set (default: the dev set)",
    )
    run.add_argument(
        "--api", metavar="URL", help="evaluate the service at URL over HTTP instead of in process"
    )
    run.add_argument(
        "--key",
        default=os.environ.get("EMN_EVAL_API_KEY"),
        help="API key for --api (default: $EMN_EVAL_API_KEY)",
    )
    run.add_argument(
        "--baseline",
        action="store_true",
        help="also run the naive LangChain RAG baseline on the same questions",
    )
    run.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="output folder (default: evals/reports/latest)",
    )
    run.add_argument(
        "--composer",
        choices=["extractive", "llm"],
        help="composer to ask for (default: the configured one)",
    )
    run.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    run.add_argument(
        "--floors",
        type=Path,
        metavar="FILE",
        help="exit 1 when a metric misses its bound in this TOML file (e.g. evals/floors.toml)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    summary = sub.add_parser(
        "summary", help="write summary.md: dev and blind sets side by side, with the targets"
    )
    summary.add_argument("--reports", type=Path, default=DEFAULT_OUT, help="reports folder")
    tune = sub.add_parser(
        "tune", help="choose the composer's settings by k-fold cross-validation on the dev set"
    )
    tune.add_argument(
        "--dataset",
        type=Path,
        action="append",
        help="a dev set to tune on (repeatable; default: the dev set, and the extended "
        "corpus's dev set when its index exists)",
    )
    tune.add_argument(
        "--index",
        type=Path,
        action="append",
        help="the index of each --dataset, in the same order (default: EMN_INDEX_DIR)",
    )
    tune.add_argument("--folds", type=int, default=5, help="k (default 5)")
    tune.add_argument("--out", type=Path, default=DEFAULT_OUT.parent / "tune", help="output folder")
    languages = sub.add_parser(
        "tune-languages",
        help="choose how questions not in English are ranked, by k-fold cross-validation on "
        "the multilingual dev set",
    )
    languages.add_argument("--folds", type=int, default=4, help="k (default 4)")
    languages.add_argument(
        "--out", type=Path, default=DEFAULT_OUT.parent / "tune-languages", help="output folder"
    )
    ranker = sub.add_parser(
        "ranker",
        help="train the learned sentence ranker on the dev sets; ship it only if it wins "
        "k-fold cross-validation end to end",
    )
    for option, meaning in (("--dataset", "a dev set"), ("--index", "its index folder")):
        ranker.add_argument(option, type=Path, action="append",
                            help=f"{meaning}, as for tune (dev sets only)")  # fmt: skip
    ranker.add_argument("--folds", type=int, default=5, help="k (default 5)")
    ranker.add_argument(
        "--out", type=Path, default=DEFAULT_OUT.parent / "ranker", help="output folder"
    )
    calibrate = sub.add_parser(
        "calibrate",
        help="fit the confidence map on the dev sets (k-fold held-out ECE); writes "
        "rag/calibration.json",
    )
    for option in ("--dataset", "--index"):
        calibrate.add_argument(option, type=Path, action="append",
                               help=f"as for tune {option} (dev sets only)")  # fmt: skip
    calibrate.add_argument("--folds", type=int, default=5, help="k (default 5)")
    calibrate.add_argument(
        "--out", type=Path, default=DEFAULT_OUT.parent / "calibration", help="report folder"
    )
    contradictions = sub.add_parser(
        "contradictions",
        help="verify the contradiction set's sentences against their passages: share of "
        "contradictions removed and of faithful paraphrases kept",
    )
    contradictions.add_argument(
        "--set", default="dev", metavar="dev|blind|FILE",
        help="dev or blind (evals/datasets/contradictions-<set>.jsonl) or a JSON Lines file",
    )  # fmt: skip
    contradictions.add_argument(
        "--out", type=Path, default=DEFAULT_OUT.parent / "contradictions", help="report folder"
    )
    contradictions.add_argument(
        "--fold", choices=["A", "B"], default=None,
        help="only the pairs with odd (A) or even (B) id numbers: develop on one fold, check "
        "on the other",
    )  # fmt: skip
    informs = sub.add_parser(
        "informs",
        help="inform drafts on a topic set: sections filled, documents cited, voice flags",
    )
    informs.add_argument("--label", default="latest", help="names the run (e.g. before, after)")
    informs.add_argument(
        "--topics", type=Path, default=None, help="topic set (default: inform-topics.json)"
    )
    informs.add_argument(
        "--out", type=Path, default=DEFAULT_OUT.parent / "informs", help="report folder"
    )
    return parser


def _dev_sets(args: argparse.Namespace) -> list[tuple[Path, Path | None]]:
    """(dev set, its index) pairs of tune/calibrate; ValueError for a blind set."""
    from evals.tune import default_sets

    datasets = args.dataset or []
    indexes = args.index or []
    if len(indexes) > len(datasets):
        raise ValueError("give one --index per --dataset")
    sets = (
        [(d, indexes[i] if i < len(indexes) else None) for i, d in enumerate(datasets)]
        if datasets
        else default_sets()
    )
    if any("blind" in d.name for d, _ in sets):
        raise ValueError(f"{args.command} on dev sets only: the blind sets are run to report")
    return sets


def _fail(message: str) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(raw)
    args.raw = raw
    if args.command == "summary":
        from evals.summary import write_summary

        print(f"wrote {write_summary(args.reports)}")
        return 0
    if args.command == "contradictions":
        from evals.contradictions_cli import run_contradictions

        return run_contradictions(args.set, args.out, fold=args.fold)
    if args.command == "informs":
        from evals.informs import TOPICS
        from evals.informs import run as run_informs

        print(f"wrote {run_informs(args.label, args.topics or TOPICS, args.out)}")
        return 0
    if args.command == "tune-languages":
        from evals.tune_languages import run_tune_languages

        result = run_tune_languages(args.out, args.folds)
        print(f"held-out {result.held_out:.4f}; chosen: {result.chosen}; wrote {args.out}")
        return 0
    if args.command in ("tune", "calibrate", "ranker"):
        try:
            sets = _dev_sets(args)
        except ValueError as exc:
            return _fail(str(exc))
    if args.command == "ranker":
        from evals.ranker import run_ranker

        result = run_ranker(sets, args.out, args.folds)
        print(
            f"held-out score {result.cross_validation.held_out:.4f} (hand weights "
            f"{result.means['hand weights']:.4f}, {result.questions} dev questions); chosen: "
            f"{result.cross_validation.chosen}; "
            f"{'shipped to rag/sentence_ranker.json' if result.shipped else 'not shipped'}; "
            f"wrote {args.out}"
        )
        return 0
    if args.command == "calibrate":
        from evals.calibrate import run_calibrate
        from evals.targets import EvalError

        try:
            found = run_calibrate(sets, args.out, args.folds)
        except (EvalError, ValueError) as exc:
            return _fail(str(exc))
        print(f"ECE raw {found.raw_ece:.4f}, held out ({found.method}) "
              f"{found.held_out_ece[found.method]:.4f}, in sample {found.in_sample_ece:.4f}; "
              f"wrote rag/calibration.json, {args.out / 'calibration.md'}")  # fmt: skip
        return 0
    if args.command == "tune":
        from evals.tune import run_tune

        result = run_tune(sets, args.out, args.folds)
        print(f"held-out {result.held_out:.4f}, in-sample {result.in_sample:.4f}, "
              f"chosen: {result.chosen}; wrote {args.out / 'tune.md'}")  # fmt: skip
        return 0
    if args.limit is not None and args.limit < 1:
        return _fail("--limit must be at least 1")
    if not args.dataset.is_file():
        return _fail(f"question set not found: {args.dataset}")
    try:
        items = load_dataset(args.dataset)
    except ValueError as exc:
        # every invalid line, one per line, then exit 2
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot read {args.dataset}: {exc}")
    if args.limit:
        items = items[: args.limit]
    bounds = None
    if args.floors:
        from evals.floors import load_floors

        try:
            bounds = load_floors(args.floors)
        except ValueError as exc:
            return _fail(str(exc))

    from evals.targets import EvalError

    started = time.perf_counter()
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    targets = []
    try:
        return _run(args, items, bounds, started, started_at, targets)
    except EvalError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for target in targets:
            target.close()


def _run(args, items, bounds, started, started_at, targets) -> int:
    from common.settings import load_settings
    from evals.report import write_outputs
    from evals.runner import build_results, run_targets
    from evals.targets import EvalError, InProcessTarget, shown_path

    # No query-vector cache: the baseline embeds each question right after ours (same model),
    # and both latencies must include embedding it.
    settings = load_settings(query_cache_size=0)
    progress = not args.no_progress
    if args.api:
        from evals.http import HttpTarget

        target = HttpTarget(args.api, args.key, args.composer)
    else:
        try:
            target = InProcessTarget(settings, args.composer)
        except (RuntimeError, ValueError) as exc:
            if isinstance(exc, EvalError):
                raise
            raise EvalError(f"cannot start the assistant: {exc}") from exc
    targets.append(target)
    base = None
    if args.baseline:
        from evals.baseline import BaselineTarget, cache_path_for

        base = BaselineTarget(settings, cache_path=cache_path_for(settings))
        targets.append(base)
    runs = run_targets(targets, items, progress)
    metrics, records = runs[0]
    baseline = runs[1] if base is not None else None
    base_info = base.describe() if base is not None else None
    warnings = list(getattr(target, "warnings", []))
    missing = getattr(target, "missing_texts", 0)
    if missing:
        warnings.append(
            f"{missing} ranked passage(s) had no text from the API (counted as not holding "
            "a gold quote)"
        )
    command = ["python", "-m", "evals"]
    for arg in args.raw:  # never write a key into a report
        command.append("***" if command[-1] == "--key" else arg)
        if arg.startswith("--key="):
            command[-1] = "--key=***"
    run = {
        "dataset": shown_path(args.dataset),
        "started": started_at,
        "seconds": round(time.perf_counter() - started, 1),
        "target": target.describe(),
        "command": shlex.join(command),
        "warnings": warnings,
    }
    if base_info is not None:
        run["baseline"] = base_info
    results = build_results(metrics, records, baseline, run)
    paths = write_outputs(results, args.out)
    _print_summary(metrics, baseline[0] if baseline else None)
    print(f"wrote {paths['results']}, {paths['report']}, {paths['chart']}, {paths['reliability']}")
    if bounds is not None:
        from evals.floors import check, report

        checks = check(metrics, bounds)
        print(report(checks))
        if not all(c.ok for c in checks):
            return 1
    return 0


def _print_summary(metrics: dict, base: dict | None) -> None:
    from evals.report import fmt
    from evals.runner import HEADLINE

    width = max(len(k) for k in HEADLINE)
    print(f"{'metric':{width}}  {'ours':>9}" + (f"  {'baseline':>9}" if base else ""))
    for key in HEADLINE:
        line = f"{key:{width}}  {fmt(metrics.get(key), key):>9}"
        if base:
            line += f"  {fmt(base.get(key), key):>9}"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
