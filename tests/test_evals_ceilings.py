"""Oracle ceilings, k-fold cross-validation and the side-by-side summary (pure logic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.ceilings import (
    composition_ceiling,
    first_sentence_has_fact,
    retrieval_ceiling,
    wrong_abstention,
)
from evals.crossval import best_setting, cross_validate, folds
from evals.summary import render_summary

PASSAGES = [
    "The EMN is a network. The maximum contribution is EUR 28 200 000.",
    "Unrelated text about borders. Another sentence.",
    "EUR 25 450 000 is for 2026. EUR 2 750 000 is for 2027.",
]


def test_retrieval_ceiling_needs_every_fact_in_the_top_k() -> None:
    facts = ["28 200 000", "2 750 000"]
    assert retrieval_ceiling(facts, PASSAGES, k=3)
    assert not retrieval_ceiling(facts, PASSAGES, k=2)


def test_composition_ceiling_allows_two_sentences_from_two_passages() -> None:
    assert composition_ceiling(["28 200 000", "2 750 000"], PASSAGES)
    # three facts in three different sentences: no pair holds them all
    assert not composition_ceiling(["28 200 000", "25 450 000", "2 750 000"], PASSAGES)


def test_first_sentence_and_wrong_abstention() -> None:
    assert first_sentence_has_fact(["28 200 000"], "It is EUR 28 200 000 [1]. The rest.")
    assert not first_sentence_has_fact(["28 200 000"], "The EMN is a network. EUR 28 200 000.")
    assert first_sentence_has_fact(["Norway"], "- Norway [1]\n- Georgia [1]")
    quote = "The maximum contribution is EUR 28 200 000."
    assert wrong_abstention("abstained", [quote], PASSAGES)
    assert not wrong_abstention("answered", [quote], PASSAGES)
    assert not wrong_abstention("abstained", [quote], PASSAGES[1:])


def test_folds_are_a_partition_and_repeatable() -> None:
    split = folds(10, 3, seed=1)
    assert sorted(i for fold in split for i in fold) == list(range(10))
    assert split == folds(10, 3, seed=1)
    with pytest.raises(ValueError):
        folds(3, 5)


def test_cross_validation_reports_held_out_not_in_sample() -> None:
    # "lucky" is best on half the questions by chance; "steady" is good everywhere.
    scores = {
        "steady": [0.8] * 10,
        "lucky": [1.0, 0.0] * 5,
    }
    result = cross_validate(scores, k=5)
    assert result.chosen == "steady"
    assert result.held_out <= result.in_sample + 1e-9
    assert best_setting({"a": [1.0], "b": [1.0]}, [0]) == "a"  # ties keep the first (default)
    overfit = cross_validate({"a": [1, 0, 1, 0, 1, 0], "b": [0, 1, 0, 1, 0, 1]}, k=3, seed=2)
    assert overfit.held_out <= overfit.in_sample


def _results(folder: Path, kfr: float, dataset: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {"key_fact_recall": kfr, "hit@5": 0.9, "behaviour_accuracy": 0.96,
               "per_type": {"factoid": {"key_fact_recall": kfr, "behaviour_accuracy": 1.0,
                                        "questions": 3}}}  # fmt: skip
    (folder / "results.json").write_text(
        json.dumps({"metrics": metrics, "questions": [], "run": {"dataset": dataset}})
    )


def test_summary_puts_dev_and_blind_side_by_side_with_targets(tmp_path: Path) -> None:
    _results(tmp_path, 0.9, "evals/datasets/dev.jsonl")
    _results(tmp_path / "blind-default", 0.8, "evals/datasets/blind-default.jsonl")
    page = render_summary(tmp_path)
    row = next(line for line in page.splitlines() if line.startswith("| key-fact recall"))
    assert "0.900" in row and "0.800 (missed: ≥ 0.850)" in row
    behaviour = next(line for line in page.splitlines() if line.startswith("| behaviour"))
    assert "0.960 (met: ≥ 0.950)" in behaviour
    assert "| factoid |" in page


def test_the_default_is_kept_unless_beaten_by_more_than_one_question() -> None:
    # 100 questions: a gain of half a question is noise, a gain of three questions is not
    default = [0.5] * 100
    assert best_setting({"default": default, "tweak": [0.5] * 99 + [1.0]}, range(100)) == (
        "default"
    )
    assert best_setting({"default": default, "tweak": [0.5] * 97 + [1.5] * 3}, range(100)) == (
        "tweak"
    )


def test_one_answer_is_the_noise_floor_when_a_score_averages_several() -> None:
    """12 questions, each the mean over its 23 languages: a gain of three answers out of 276
    is not noise, although it is far less than one whole question (1/12)."""
    default = [0.5] * 12
    tweak = [0.5 + 3 / 23] + [0.5] * 11  # three more answers right, all in one question
    scores = {"default": default, "tweak": tweak}
    assert best_setting(scores, range(12)) == "default"
    assert best_setting(scores, range(12), rows_per_question=23) == "tweak"
    half = {"default": default, "tweak": [0.5 + 0.5 / 23] + [0.5] * 11}
    assert best_setting(half, range(12), rows_per_question=23) == "default"
