"""`python -m evals ranker`: train the learned sentence ranker (`rag/sentence_ranker.py`) on the
dev sets, judge it end to end by k-fold cross-validation, and ship it only if it wins.

1. Every answerable dev question is answered once with the hand weights; the composer's
   candidate sentences are recorded with their features, and a sentence is "right" when it
   states one of the question's key facts.
2. For each fold, a ranker is fitted on the other folds' questions; the fold's questions are
   then answered in full (retrieval, composition, verification, abstention) with that
   ranker and with the hand weights, and scored as `python -m evals tune` scores them.
3. The ranker fitted on all dev questions replaces `rag/sentence_ranker.json` only if its
   held-out score beats the hand weights' by more than one question's worth (1/n, the rule
   of `evals.crossval.best_setting`); otherwise the file is removed and the hand weights rank.

The blind sets are never read here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from evals.crossval import CrossValidation, cross_validate, folds
from evals.dataset import Item
from evals.normalise import key_fact_present
from evals.report import markdown_table
from rag.composers.base import ComposeInput
from rag.composers.extractive import ExtractiveComposer, _Sentence
from rag.sentence_ranker import RANKER_FILE, Candidate, SentenceRanker, fit_ranker

DEFAULT_OUT = Path(__file__).parent / "reports" / "ranker"


class _Recording(ExtractiveComposer):
    """The hand-weighted composer, keeping every candidate list it scores (one per part of
    a multi-part question)."""

    def __init__(self) -> None:
        super().__init__(ranker=None)
        self.lists: list[list[_Sentence]] = []

    def candidates(self, data: ComposeInput) -> list[_Sentence]:
        found = super().candidates(data)
        self.lists.append(found)
        return found


def labelled(sentences: Sequence[_Sentence], key_facts: Sequence[str]) -> list[Candidate]:
    """A sentence is right when it, with the list it brings, states a key fact."""
    return [
        Candidate(
            features=s.features,
            hand_score=s.score,
            right=any(key_fact_present(f, " ".join([s.text, *s.items])) for f in key_facts),
        )
        for s in sentences
    ]


@dataclass
class DevSet:
    name: str
    settings: Any
    items: list[Item]
    lists: list[list[list[Candidate]]]  # per item: its candidate lists (none if not answerable)


def collect(name: str, settings: Any, items: Sequence[Item]) -> DevSet:
    from evals.targets import InProcessTarget

    target = InProcessTarget(settings)
    recorder = _Recording()
    target.assistant.composers["extractive"] = recorder
    lists: list[list[list[Candidate]]] = []
    for item in items:
        recorder.lists = []
        if item.expected_behaviour == "answer" and item.key_facts:
            target.ask(item)
        lists.append([labelled(found, item.key_facts) for found in recorder.lists])
    return DevSet(name, settings, list(items), lists)


# Settings compared: the hand weights first (kept unless beaten by more than one question's
# worth), then the learned score blended with the hand score in these shares.
BLENDS: dict[str, dict[str, Any] | None] = {
    "hand weights": None,
    "learned": {"blend": 1.0},
    "learned 0.75 + hand 0.25": {"blend": 0.75},
    "learned 0.5 + hand 0.5": {"blend": 0.5},
    "learned 0.25 + hand 0.75": {"blend": 0.25},
    "hand weights, learned first sentence": {"lead_only": True},
}


@dataclass(frozen=True)
class RankerResult:
    cross_validation: CrossValidation
    means: dict[str, float]  # setting -> mean over all questions, each scored by a fold model
    per_set: dict[str, dict[str, tuple[float, int]]]  # dev set -> setting -> (mean, n)
    # setting -> questions scoring higher / lower than with the hand weights: answerable ones,
    # then the others (to abstain or decline)
    changes: dict[str, tuple[int, int, int, int]]
    questions: int
    shipped: bool
    ranker: SentenceRanker


def run_ranker(sets: Sequence[tuple[Path, Path | None]], out: Path, k: int = 5,
               ship_to: Path = RANKER_FILE,
               progress: Callable[[str], None] = print) -> RankerResult:  # fmt: skip
    """Every question is scored, under every setting, with the ranker fitted without its
    fold; `cross_validate` then chooses the setting on the other folds, as `tune` does."""
    from evals.dataset import load_dataset
    from evals.targets import InProcessTarget, shown_path
    from evals.tune import dev_settings, score_item

    dev: list[DevSet] = []
    for dataset, index in sets:
        progress(f"{shown_path(dataset)}: recording candidate sentences")
        dev.append(collect(shown_path(dataset), dev_settings(index), load_dataset(dataset)))
    owners = [(s, i) for s, d in enumerate(dev) for i in range(len(d.items))]
    n = len(owners)
    scores: dict[str, list[float]] = {name: [0.0] * n for name in BLENDS}
    for number, fold in enumerate(folds(n, k)):
        inside = set(fold)
        training = [
            lst for j, (s, i) in enumerate(owners) if j not in inside for lst in dev[s].lists[i]
        ]
        ranker = fit_ranker(training)
        for s, d in enumerate(dev):
            mine = [j for j in fold if owners[j][0] == s]
            if not mine:
                continue
            target = InProcessTarget(d.settings)
            for name, blend in BLENDS.items():
                target.assistant.composers["extractive"] = ExtractiveComposer(
                    ranker=None if blend is None else replace(ranker, **blend)
                )
                for j in mine:
                    scores[name][j] = score_item(target, d.items[owners[j][1]])
        progress(f"fold {number + 1}/{k}: {len(fold)} questions held out")
    result = cross_validate(scores, k=k)
    chosen = BLENDS[result.chosen]
    final = fit_ranker(
        [lst for d in dev for lists in d.lists for lst in lists],
        trained_on=" + ".join(d.name for d in dev),
    )
    final = replace(final, **(chosen or {}))
    per_set: dict[str, dict[str, tuple[float, int]]] = {}
    for s, d in enumerate(dev):
        mine = [j for j, (owner, _) in enumerate(owners) if owner == s]
        per_set[d.name] = {
            name: (sum(values[j] for j in mine) / len(mine), len(mine))
            for name, values in scores.items()
        }
    means = {name: sum(values) / n for name, values in scores.items()}
    answerable = [dev[s].items[i].expected_behaviour == "answer" for s, i in owners]
    hand = scores["hand weights"]
    changes = {name: _changes(values, hand, answerable) for name, values in scores.items()}
    report = RankerResult(result, means, per_set, changes, n, chosen is not None, final)
    out.mkdir(parents=True, exist_ok=True)
    final.save(out / "sentence_ranker.json")
    (out / "ranker.md").write_text(render(report, k), "utf-8")
    (out / "ranker.json").write_text(
        json.dumps({"scores": scores, "result": asdict(report)}, indent=1), "utf-8"
    )
    if report.shipped:
        final.save(ship_to)
    elif ship_to.exists():
        ship_to.unlink()
    return report


def _changes(values: Sequence[float], hand: Sequence[float],
             answerable: Sequence[bool]) -> tuple[int, int, int, int]:  # fmt: skip
    """Questions scoring higher / lower than with the hand weights: answerable ones, then
    the others."""
    counts = [0, 0, 0, 0]
    for value, base, is_answerable in zip(values, hand, answerable, strict=True):
        if abs(value - base) > 1e-9:
            counts[(0 if is_answerable else 2) + (0 if value > base else 1)] += 1
    return counts[0], counts[1], counts[2], counts[3]


def render(result: RankerResult, k: int) -> str:
    cv = result.cross_validation
    verdict = (
        f"**shipped** ({cv.chosen}): it beats the hand weights by more than one question's worth"
        if result.shipped
        else "**not shipped**: no learned setting beats the hand weights by more than one "
        "question's worth; the hand weights rank"
    )
    weights = sorted(result.ranker.weights.items(), key=lambda kv: -abs(kv[1]))
    names = list(result.means)
    per_set = [
        [name, str(next(iter(row.values()))[1]), *(f"{row[s][0]:.4f}" for s in names)]
        for name, row in result.per_set.items()
    ]
    lines = [
        "# Learned sentence ranker: k-fold cross-validation on the dev sets",
        "",
        f"Dev sets: {', '.join(f'`{name}`' for name in result.per_set)} "
        f"({result.questions} questions), {k} folds. Every question is answered end to end "
        "(retrieval, composition, verification, abstention) under every setting, with a "
        "ranker fitted on the other folds, and scored as `python -m evals tune` scores it "
        "(0.4 key-fact recall + 0.4 behaviour + 0.2 first sentence for an answered factoid). "
        "The setting is then chosen by the same cross-validation as `tune` (the hand weights "
        "kept unless beaten by more than one question's worth). Command: "
        "`python -m evals ranker` (`make train-ranker`).",
        "",
        f"- Held-out score of the setting chosen on the other folds: **{cv.held_out:.4f}** "
        f"(hand weights: {result.means['hand weights']:.4f})",
        f"- Chosen on all dev questions: **{cv.chosen}**; folds agreeing: {cv.stable:.0%} "
        f"({', '.join(cv.per_fold)})",
        f"- Verdict: {verdict}.",
        "",
        "## Every setting (each question scored by the ranker fitted without it)",
        "",
        *markdown_table(
            ["setting", "mean score", "answerable: better / worse", "others: better / worse"],
            [
                [
                    name,
                    f"{v:.4f}",
                    "{} / {}".format(*result.changes[name][:2]),
                    "{} / {}".format(*result.changes[name][2:]),
                ]
                for name, v in result.means.items()
            ],
        ),
        "",
        "## Per dev set",
        "",
        *markdown_table(["dev set", "questions", *names], per_set),
        "",
        "## Weights of the ranker fitted on all dev questions (standardised features)",
        "",
        *markdown_table(["feature", "weight"], [[name, f"{w:+.3f}"] for name, w in weights]),
        "",
    ]
    return "\n".join(lines)
