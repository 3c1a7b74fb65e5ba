"""`python -m evals calibrate`: fit the map from the raw evidence score to the confidence users
see, on the dev sets only, and say how well it holds on questions it was not fitted on.

Every dev question is asked once in process; each answered question expecting an answer gives
one (raw score, every key fact present) pair. k-fold cross-validation gives the held-out ECE
(each pair mapped by the map fitted on the other folds: the figure to report); the map fitted
on all pairs is written to rag/calibration.json, which `rag.calibration` reads. The blind sets
are never read here: they are run with `python -m evals run` to report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.calibration import BINS, FITS, auc, ece, held_out, write_reliability_plot
from evals.dataset import Item
from evals.report import fmt, markdown_table
from evals.targets import shown_path
from rag.calibration import CALIBRATION_FILE, Calibration

DEFAULT_OUT = Path(__file__).parent / "reports" / "calibration"
# Platt: two parameters suit ~150 pairs. Isotonic, beside it in the report, has one step per
# pooled block and fitted the folds' noise (held-out ECE 0.10 vs 0.04 at the first fit).
METHOD = "platt"
# The held-out ECE is averaged over this many shuffles of the folds: with ~150 pairs one
# shuffle's figure moves by a few hundredths.
REPEATS = 10
COMMAND = "python -m evals calibrate"


@dataclass(frozen=True)
class Observation:
    dataset: str
    id: str
    raw: float  # Context.raw_confidence
    correct: bool  # every key fact in the answer


@dataclass(frozen=True)
class CalibrationResult:
    pairs: int
    correct: int
    raw_ece: float  # the raw score read as a probability
    raw_auc: float | None  # how well the raw score ranks right above wrong (any map keeps it)
    held_out_ece: dict[str, float]  # per method, k-fold, mean over REPEATS shuffles
    held_out_range: dict[str, tuple[float, float]]  # per method, lowest and highest shuffle
    in_sample_ece: float  # the shipped map on the pairs it was fitted on (optimistic)
    method: str


def observe(settings: Any, items: Sequence[Item], dataset: str) -> list[Observation]:
    """Ask every item as `Assistant.ask` does, keeping the raw score of each answered
    question that expects an answer and has key facts."""
    from evals.runner import score_question
    from evals.targets import EvalError, Reply
    from index.reader import IndexNotReadyError
    from rag.pipeline import Assistant
    from rag.steps import Context

    assistant = Assistant(settings)
    try:
        assistant.warm_up()
    except IndexNotReadyError as exc:
        raise EvalError(str(exc)) from exc
    out = []
    for item in items:
        ctx = Context(question=item.question.strip(), history=[], filters=None,
                      composer=settings.composer)  # fmt: skip
        answer = assistant.to_answer(assistant.run(ctx))
        row = score_question(item, Reply.from_answer(answer.model_dump(mode="json"), 0.0), [])
        if row["behaviour"] != "answered" or row.get("all_key_facts") is None:
            continue
        if item.expected_behaviour == "answer":
            out.append(Observation(dataset, item.id, ctx.raw_confidence, row["all_key_facts"] >= 1))
    return out


def fit_observations(
    observations: Sequence[Observation], k: int = 5, method: str = METHOD
) -> tuple[Calibration, CalibrationResult, dict[str, list[float]]]:
    """(the map fitted on all pairs, the figures, the held-out confidences per method)."""
    scores = [o.raw for o in observations]
    labels = [o.correct for o in observations]
    held = {name: held_out(scores, labels, fit, k) for name, fit in FITS.items()}
    repeated = {
        name: [_ece(held_out(scores, labels, fit, k, seed), labels) for seed in range(REPEATS)]
        for name, fit in FITS.items()
    }
    mapping = FITS[method](scores, labels)
    result = CalibrationResult(
        pairs=len(scores),
        correct=sum(labels),
        raw_ece=_ece(scores, labels),
        raw_auc=auc(list(zip(scores, labels, strict=True))),
        held_out_ece={name: round(sum(v) / len(v), 4) for name, v in repeated.items()},
        held_out_range={name: (min(v), max(v)) for name, v in repeated.items()},
        in_sample_ece=_ece([mapping(s) for s in scores], labels),
        method=method,
    )
    return mapping, result, held


def _ece(confidences: Sequence[float], labels: Sequence[bool]) -> float:
    return round(ece(list(zip(confidences, labels, strict=True))) or 0.0, 4)


def run_calibrate(sets: Sequence[tuple[Path, Path | None]], out: Path, k: int = 5,
                  target: Path = CALIBRATION_FILE) -> CalibrationResult:  # fmt: skip
    """`sets`: (dev question set, index folder or None for the configured one); the pairs
    of all sets are pooled before the folds are drawn."""
    from evals.dataset import load_dataset
    from evals.tune import dev_settings

    observations: list[Observation] = []
    for dataset, index in sets:
        part = observe(dev_settings(index), load_dataset(dataset), shown_path(dataset))
        print(f"{shown_path(dataset)}: {len(part)} answered questions expecting an answer")
        observations += part
    mapping, result, held = fit_observations(observations, k)
    shown_sets = [shown_path(d) for d, _ in sets]
    document = {
        **mapping.to_json(),
        "fitted": datetime.now(UTC).strftime("%Y-%m-%d"),
        "sets": shown_sets,
        "command": COMMAND,
        "pairs": result.pairs,
        "held_out_ece": result.held_out_ece[result.method],
        "note": "Do not edit: refit with `make calibrate` (dev sets only, never the blind ones).",
    }
    target.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    labels = [o.correct for o in observations]
    series = {
        "raw score": list(zip([o.raw for o in observations], labels, strict=True)),
        f"calibrated ({result.method}, held out, one fold shuffle)": list(
            zip(held[result.method], labels, strict=True)
        ),
    }
    write_reliability_plot(series, out / "reliability.png",
                           f"Dev sets ({result.pairs} answers), {k}-fold held out")  # fmt: skip
    (out / "calibration.md").write_text(
        render(result, observations, held, mapping, shown_sets, k, shown_path(target)), "utf-8"
    )
    (out / "calibration.json").write_text(
        json.dumps({"result": asdict(result), "observations": [asdict(o) for o in observations]},
                   indent=1) + "\n", "utf-8")  # fmt: skip
    return result


def render(result: CalibrationResult, observations: Sequence[Observation],
           held: dict[str, list[float]], mapping: Calibration, sets: Sequence[str], k: int,
           target: str) -> str:  # fmt: skip
    method = result.method
    rows = [["raw score (before calibration)", fmt(result.raw_ece, "ece")]]
    for name, value in result.held_out_ece.items():
        low, high = result.held_out_range[name]
        shipped = " (shipped)" if name == method else ""
        rows.append([f"{name}, held out ({k}-fold){shipped}",
                     f"{fmt(value, 'e')} ({fmt(low, 'e')}–{fmt(high, 'e')})"])  # fmt: skip
    rows.append([f"{method}, in sample (optimistic)", fmt(result.in_sample_ece, "ece")])
    per_set = []
    for dataset in sets:
        idx = [i for i, o in enumerate(observations) if o.dataset == dataset]
        labels = [observations[i].correct for i in idx]
        raw = [observations[i].raw for i in idx]
        calibrated = [held[method][i] for i in idx]
        per_set.append([f"`{dataset}`", str(len(idx)), f"{sum(labels)}",
                        fmt(_ece(raw, labels) if idx else None, "ece"),
                        fmt(_ece(calibrated, labels) if idx else None, "ece")])  # fmt: skip
    params = {k: v for k, v in mapping.to_json().items() if k != "method"}
    points = ", ".join(f"{raw:.1f} → {mapping(raw):.3f}" for raw in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0))
    lines = [
        "# Confidence calibration (dev sets only)",
        "",
        f"Sets: {', '.join(f'`{s}`' for s in sets)}; command: `{COMMAND}`; "
        f"{datetime.now(UTC).strftime('%Y-%m-%d')}. Population: answered questions expecting "
        f"an answer ({result.pairs}, of which {result.correct} hold every key fact). ECE: "
        f"{BINS} equal-width bins, confidence vs every key fact in the answer. The blind sets "
        "are never read here; their ECE is in their own reports (`make eval`).",
        "",
        *markdown_table(
            ["confidence", f"ECE (held out: mean of {REPEATS} fold shuffles, range)"], rows
        ),
        "",
        f"Ranking: AUC of the raw score {fmt(result.raw_auc, 'auc')} (0.5 is chance; a monotone "
        "map keeps it). Calibration makes the level honest; it cannot make the score tell a "
        "right answer from a wrong one better than it does.",
        "",
        *markdown_table(
            ["dev set", "answers", "correct", "raw ECE", f"{method} held-out ECE (one shuffle)"],
            per_set,
        ),
        "",
        f"Shipped map (`{target}`, {method} `{json.dumps(params)}`, fitted on all the pairs); "
        f"raw → shown: {points}.",
        "",
        "![Reliability plot: raw score and held-out calibrated confidence](reliability.png)",
        "",
    ]
    return "\n".join(lines)
