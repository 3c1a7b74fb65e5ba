"""`python -m evals tune`: choose the extractive composer's settings by k-fold
cross-validation on the dev set, and say how well the choice generalises.

Every setting of the grid answers every dev question once (in process, about 3 s a setting);
each question scores 0.5 x key-fact recall + 0.5 x behaviour correctness (for an answered
factoid 0.4 + 0.4 + 0.2 x first sentence holding a key fact; behaviour alone for questions not
expecting an answer). `evals.crossval` then reports the held-out-fold score:
the figure that says something about the next question. The blind sets are never read here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from evals.crossval import CrossValidation, cross_validate
from evals.dataset import Item
from evals.report import markdown_table

DEFAULT_OUT = Path(__file__).parent / "reports" / "tune"
DATASETS = Path(__file__).parent / "datasets"
EXTENDED_DEV = DATASETS / "dev-extended.jsonl"
# Dev sets written blind (unseen wording, near misses), open to tuning like the dev set.
NEAR_MISS_DEV = DATASETS / "dev-answerability.jsonl"
EXTENDED_DEV_2 = DATASETS / "dev-extended2.jsonl"
# Near misses written blind beside their answerable twins (default corpus, legal texts).
NEAR_MISS_DEV_2 = DATASETS / "dev-answerability2.jsonl"
NEAR_MISS_DEV_3 = DATASETS / "dev-answerability3.jsonl"


def dev_settings(index: Path | None) -> Any:
    """The settings a dev set runs with: its index (None: the configured one), and no
    query-vector cache, as in `python -m evals run`."""
    from common.settings import load_settings

    overrides: dict[str, Any] = {"query_cache_size": 0}
    if index is not None:
        overrides["index_dir"] = index
    return load_settings(**overrides)


def default_sets() -> list[tuple[Path, Path | None]]:
    """Every dev set: the dev set and the two near-miss sets written blind on the configured
    index, and, when `make eval` has built the extended index, the extended corpus's dev sets
    (dev-extended, dev-extended2, near misses 3) on it. Tuning, the ranker and calibration all
    read these six; the blind sets never."""
    from common.settings import PROJECT_ROOT
    from evals.dataset import DEV_SET

    sets: list[tuple[Path, Path | None]] = [
        (DEV_SET, None),
        (NEAR_MISS_DEV, None),
        (NEAR_MISS_DEV_2, None),
    ]
    extended = PROJECT_ROOT / ".emn" / "index-extended"
    if (extended / "manifest.json").exists():
        sets += [(EXTENDED_DEV, extended), (EXTENDED_DEV_2, extended), (NEAR_MISS_DEV_3, extended)]
    return sets


def grid() -> dict[str, dict[str, Any]]:
    """Named composer settings; the shipped default comes first (it wins ties)."""
    from rag.composers.extractive import SentenceWeights

    base = SentenceWeights()

    def w(**changes: float) -> dict[str, Any]:
        return {"weights": replace(base, **changes)}

    return {
        "default": {},
        "no asked-for preference": w(asked=0.0, not_asked=0.0),
        "asked-for 0.25": w(asked=0.25),
        "asked-for 0.35": w(asked=0.35),
        "asked-for 0.5": w(asked=0.5),
        "asked-for 0.35, not-asked 0.15": w(asked=0.35, not_asked=0.15),
        "no not-asked penalty": w(not_asked=0.0),
        "not-asked penalty 0.1": w(not_asked=0.1),
        "no title penalty": w(title=0.0),
        "no reference-line penalty": w(reference=0.0),
        "reference-line penalty 0.15": w(reference=0.15),
        "document order (no lead)": {"lead_with_best": False},
        "3 sentences": {"max_sentences": 3},
        "5 sentences": {"max_sentences": 5},
        "floor 0.7": {"relative_floor": 0.7},
        "floor 0.8": {"relative_floor": 0.8},
    }


def question_score(item: Item, metrics: dict[str, Any]) -> float:
    """What the targets ask for: the right behaviour, the key facts, and for a factoid the
    fact in the first sentence."""
    behaviour = 1.0 if metrics["behaviour_correct"] else 0.0
    recall = metrics.get("key_fact_recall")
    if item.expected_behaviour != "answer" or recall is None:
        return behaviour
    first = metrics.get("first_sentence_fact")
    if first is None:
        return 0.5 * recall + 0.5 * behaviour
    return 0.4 * recall + 0.4 * behaviour + 0.2 * first


def score_item(target: Any, item: Item) -> float:
    """One question answered by `target` (an evals target) and scored as `question_score`."""
    from evals.runner import score_question

    reply = target.ask(item)
    ranking = target.ranking(item, reply) if item.sources else []
    return question_score(item, score_question(item, reply, ranking))


def score_grid(settings: Any, items: Sequence[Item], configs: dict[str, dict[str, Any]],
               progress: Callable[[str], None] = print) -> dict[str, list[float]]:  # fmt: skip
    """Per-question scores of every configuration on `items`."""
    from evals.targets import InProcessTarget
    from rag.composers.extractive import ExtractiveComposer

    target = InProcessTarget(settings)
    # Every setting runs with the shipped sentence ranker, if any (`make train-ranker`).
    shipped = getattr(target.assistant.composers["extractive"], "ranker", None)
    scores: dict[str, list[float]] = {}
    for name, config in configs.items():
        target.assistant.composers["extractive"] = ExtractiveComposer(
            **{"ranker": shipped, **config}
        )
        row = [score_item(target, item) for item in items]
        scores[name] = row
        progress(f"{name:32} {sum(row) / len(row):.4f}")
    return scores


def render(result: CrossValidation, scores: dict[str, list[float]], k: int,
           configs: dict[str, dict[str, Any]], dataset: str) -> str:  # fmt: skip
    rows = []
    for name, values in scores.items():
        config = configs[name]
        shown = {
            key: (asdict(value) if hasattr(value, "__dataclass_fields__") else value)
            for key, value in config.items()
        }
        rows.append([name, f"{sum(values) / len(values):.4f}", f"`{json.dumps(shown)}`"])
    lines = [
        "# Composer settings chosen by k-fold cross-validation on the dev set",
        "",
        f"Dataset: `{dataset}` ({len(next(iter(scores.values())))} questions), {k} folds. "
        "Per-question score: 0.5 key-fact recall + 0.5 behaviour correctness; for an answered "
        "factoid 0.4 + 0.4 + 0.2 first sentence holding a key fact; behaviour alone for "
        "questions not expecting an answer. Command: `python -m evals tune`.",
        "",
        f"- Held-out score (each fold scored with the setting chosen on the other folds): "
        f"**{result.held_out:.4f}**",
        f"- In-sample score of the chosen setting (optimistic): {result.in_sample:.4f}",
        f"- Chosen on the whole set (shipped): **{result.chosen}**; "
        f"folds agreeing: {result.stable:.0%} ({', '.join(result.per_fold)})",
        "",
        "## Every setting, in sample",
        "",
        *markdown_table(["setting", "mean score", "changes from the default"], rows),
        "",
    ]
    return "\n".join(lines)


def run_tune(sets: Sequence[tuple[Path, Path | None]], out: Path, k: int = 5) -> CrossValidation:
    """`sets`: (dev question set, index folder or None for the configured one); the scores
    of all sets are pooled, question by question, before the folds are drawn."""
    from evals.dataset import load_dataset
    from evals.targets import shown_path

    configs = grid()
    scores: dict[str, list[float]] = {name: [] for name in configs}
    for dataset, index in sets:
        print(f"{shown_path(dataset)}:")
        part = score_grid(dev_settings(index), load_dataset(dataset), configs)
        for name, values in part.items():
            scores[name].extend(values)
    dataset = " + ".join(shown_path(d) for d, _ in sets)
    result = cross_validate(scores, k=k)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune.md").write_text(render(result, scores, k, configs, dataset), "utf-8")
    (out / "tune.json").write_text(
        json.dumps({"cross_validation": asdict(result), "scores": scores}, indent=1), "utf-8"
    )
    return result
