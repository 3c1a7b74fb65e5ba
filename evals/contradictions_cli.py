"""`python -m evals contradictions`: load and check a contradiction set, verify every pair with
the configured embedding model, write <out>/<set>.md and .json. Exit 2 when the set cannot
be used (missing, invalid, a passage not in its document)."""

from __future__ import annotations

import sys
from pathlib import Path

from evals.contradictions import (
    DATASETS,
    in_fold,
    load_pairs,
    passage_problems,
    run_pairs,
    set_path,
    summarise,
    write_report,
)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_contradictions(
    name: str, out: Path, datasets: Path = DATASETS, fold: str | None = None
) -> int:
    """Exit code: 0 report written, 2 the set cannot be used. `fold` ('A', 'B'): only the
    pairs of that fold (evals.contradictions.in_fold), reported as <set>-fold<A|B>."""
    path = set_path(name, datasets)
    if not path.is_file():
        if name == "blind":
            return _fail(
                f"the blind contradiction set {path} does not exist yet: it is written by "
                "someone who sees only the documents; run --set dev, or give a file"
            )
        return _fail(f"contradiction set not found: {path}")
    try:
        pairs = load_pairs(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        return _fail(f"invalid contradiction set {path}:\n{exc}")
    pairs = [p for p in pairs if in_fold(p.id, fold)]
    if not pairs:
        return _fail(f"{path}: no pair in fold {fold}")
    if problems := passage_problems(pairs):
        return _fail(f"{path}: passages must be verbatim document text:\n" + "\n".join(problems))

    from common.embedding import embedder_from_settings
    from common.settings import load_settings
    from rag.verify import Verifier

    embedder = embedder_from_settings(load_settings())
    outcomes = run_pairs(pairs, Verifier(embed=embedder.embed_passages), embedder.embed_passages)
    summary = summarise(outcomes)
    label = path.stem.removeprefix("contradictions-") if name in {"dev", "blind"} else path.stem
    label += f"-fold{fold}" if fold else ""
    from common.settings import PROJECT_ROOT

    shown = path.resolve()
    source = str(shown.relative_to(PROJECT_ROOT) if shown.is_relative_to(PROJECT_ROOT) else path)
    md, js = write_report(label, source, summary, out)
    print(
        f"{summary['pairs']} pairs: contradictions removed {summary['removed_share']}, "
        f"faithful kept {summary['kept_share']}; wrote {md}, {js}"
    )
    return 0
