"""Expected calibration error and the fitted maps on hand-built examples; the run report's
`ece` and reliability plot; `python -m evals calibrate` refusing the blind sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.settings import PROJECT_ROOT
from evals.__main__ import main
from evals.calibrate import Observation, fit_observations
from evals.calibration import (
    auc,
    bin_index,
    calibration_pairs,
    ece,
    fit_isotonic,
    fit_logistic,
    fit_platt,
    held_out,
    reliability_bins,
    write_reliability_plot,
)
from evals.dataset import Item
from evals.metrics import aggregate
from evals.report import write_outputs
from evals.runner import build_results, run_target
from evals.targets import Passage, Reply

PNG = b"\x89PNG\r\n\x1a\n"
GRID = [i / 100 for i in range(101)]


def pairs(conf: float, right: int, wrong: int) -> list[tuple[float, bool]]:
    return [(conf, True)] * right + [(conf, False)] * wrong


# --- ECE ----------------------------------------------------------------------------------


def test_perfectly_calibrated_confidence_has_zero_ece() -> None:
    data = pairs(0.75, 3, 1) + pairs(0.5, 1, 1) + pairs(0.2, 1, 4)
    assert ece(data) == pytest.approx(0.0)


def test_overconfident_answers_give_the_gap() -> None:
    assert ece(pairs(0.9, 6, 4)) == pytest.approx(0.3)  # shown 0.9, right 6 times in 10
    # two bins of five: gaps 0.2 (0.8 vs 0.6) and 0.3 (0.3 vs 0.6), weighted by their share
    assert ece(pairs(0.8, 3, 2) + pairs(0.3, 3, 2)) == pytest.approx(0.25)
    # within a bin the mean confidence is compared, not each answer's
    assert ece([(0.81, True), (0.89, False)]) == pytest.approx(0.35)


def test_no_answers_no_ece_and_bins_are_half_open() -> None:
    assert ece([]) is None
    assert [bin_index(c) for c in (0.0, 0.099, 0.1, 0.3, 0.7, 0.95, 1.0)] == [0, 0, 1, 3, 7, 9, 9]
    bins = reliability_bins(pairs(0.95, 1, 1))
    assert len(bins) == 10 and bins[9].count == 2 and bins[9].accuracy == 0.5
    assert bins[0].count == 0 and bins[0].confidence is None


def test_population_is_answered_questions_expecting_an_answer() -> None:
    rows: list[dict[str, Any]] = [
        {"expected": "answer", "behaviour": "answered", "confidence": 0.8, "all_key_facts": 1.0},
        {"expected": "answer", "behaviour": "answered", "confidence": 0.6, "all_key_facts": 0.0},
        {"expected": "answer", "behaviour": "abstained", "confidence": 0.3, "all_key_facts": 0.0},
        {"expected": "abstain", "behaviour": "answered", "confidence": 0.7},
        {"expected": "answer", "behaviour": "answered", "confidence": 0.7},  # no key facts
        {"expected": "answer", "behaviour": "answered", "confidence": None, "all_key_facts": 1.0},
    ]
    assert calibration_pairs(rows) == [(0.8, True), (0.6, False)]


def test_aggregate_reports_ece_and_none_without_confidence() -> None:
    base = {"expected": "answer", "behaviour": "answered", "latency_ms": 1.0}
    rows = [{**base, "confidence": 0.9, "all_key_facts": 1.0},
            {**base, "confidence": 0.9, "all_key_facts": 0.0}]  # fmt: skip
    assert aggregate(rows)["ece"] == pytest.approx(0.4)
    assert aggregate([{**r, "confidence": None} for r in rows])["ece"] is None


def test_auc_ranks_right_above_wrong() -> None:
    assert auc([(0.9, True), (0.2, False)]) == 1.0
    assert auc([(0.5, True), (0.5, False)]) == 0.5
    assert auc(pairs(0.9, 2, 0)) is None


# --- fitted maps --------------------------------------------------------------------------


def test_isotonic_pools_violators_and_is_monotone() -> None:
    mapping = fit_isotonic([0.1, 0.2, 0.3, 0.4], [False, True, False, True])
    assert mapping.x == (0.1, 0.2, 0.3, 0.4)
    assert mapping.y == (0.0, 0.5, 0.5, 1.0)
    assert mapping(0.25) == pytest.approx(0.5) and mapping(0.0) == 0.0 and mapping(1.0) == 1.0
    values = [mapping(g) for g in GRID]
    assert values == sorted(values) and all(0.0 <= v <= 1.0 for v in values)


def test_platt_is_increasing_within_0_1_and_never_certain() -> None:
    scores = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    labels = [False, False, True, False, True, False, True, True, True, True]
    mapping = fit_platt(scores, labels)
    assert mapping.method == "platt" and mapping.a > 0
    values = [mapping(g) for g in GRID]
    assert values == sorted(values) and all(0.0 < v < 1.0 for v in values)
    # a clean split still gives Platt's smoothed targets, not 0 and 1
    split = fit_platt([0.1, 0.2, 0.8, 0.9], [False, False, True, True])
    assert 0.0 < split(0.0) < 0.5 < split(1.0) < 1.0


def test_platt_on_a_score_that_does_not_rank_gives_the_overall_rate() -> None:
    mapping = fit_platt([0.2, 0.4, 0.6, 0.8], [True, True, False, False])
    assert mapping.a == 0.0
    assert mapping(0.1) == mapping(0.9) == pytest.approx(3 / 6)  # (2 + 1) / (2 + 1 + 2 + 1)


def legal_texts_are_harder(n: int = 200) -> tuple[list[float], list[bool], list[dict[str, float]]]:
    """Answers whose raw scores look alike on both corpora, right 4 times in 5 on the default
    documents and 2 times in 5 when they cite legal acts, a little more often the higher the
    raw score."""
    scores, labels, features = [], [], []
    for i in range(n):
        legal = i % 2 == 1
        raw = 0.5 + (i % 10) / 20
        right = (i // 2) % 5 < (2 if legal else 4) or (raw > 0.9 and (i // 2) % 5 < 3)
        scores.append(raw)
        labels.append(right)
        features.append({"legal_share": 1.0 if legal else 0.0})
    return scores, labels, features


def test_logistic_learns_that_legal_sources_lower_the_confidence_and_keeps_raw_order() -> None:
    scores, labels, features = legal_texts_are_harder()
    mapping = fit_logistic(scores, labels, features, ["legal_share"])
    assert mapping.method == "logistic" and mapping.a >= 0
    weight = dict(mapping.weights)["legal_share"]
    assert weight < -1.0  # about log(0.8/0.2) - log(0.4/0.6) = 1.8 before the ridge
    default = [mapping(g, {"legal_share": 0.0}) for g in GRID]
    legal = [mapping(g, {"legal_share": 1.0}) for g in GRID]
    assert default == sorted(default) and legal == sorted(legal)
    assert all(lo < hi for lo, hi in zip(legal, default, strict=True))
    assert mapping(0.7) == mapping(0.7, {"legal_share": 0.0})  # a feature not given counts 0
    # each group's mean confidence is near its rate of right answers (in sample)
    for share, rate in ((0.0, 0.8), (1.0, 0.4)):
        mean = np.mean([mapping(s, f) for s, f in zip(scores, features, strict=True)
                        if f["legal_share"] == share])  # fmt: skip
        assert mean == pytest.approx(rate, abs=0.08)


def test_logistic_never_lets_a_stronger_answer_show_less() -> None:
    """Right answers at low raw scores: a free fit would give the raw score a negative
    weight; the map keeps it at 0 instead."""
    scores = [0.2, 0.3, 0.4, 0.7, 0.8, 0.9] * 5
    labels = [True, True, True, False, False, False] * 5
    features = [{"legal_share": float(i % 2)} for i in range(30)]
    mapping = fit_logistic(scores, labels, features, ["legal_share"])
    assert mapping.a == 0.0
    assert mapping(0.2, {"legal_share": 0.0}) == mapping(0.9, {"legal_share": 0.0})


def test_held_out_maps_each_pair_by_the_other_folds() -> None:
    scores = [i / 20 for i in range(20)]
    labels = [i % 3 != 0 for i in range(20)]
    values = held_out(scores, labels, fit_platt, k=5)
    assert len(values) == 20 and all(0.0 <= v <= 1.0 for v in values)
    observations = [Observation("dev", str(i), s, y, {"legal_share": float(i % 2)},
                                "default" if i % 2 == 0 else "extended")
                    for i, (s, y) in enumerate(zip(scores, labels, strict=True))]  # fmt: skip
    mapping, result, held = fit_observations(observations, k=5)
    assert result.pairs == 20 and result.correct == sum(labels) and mapping.method == "logistic"
    assert set(result.held_out_ece) == {"isotonic", "platt", "logistic"} == set(held)
    low, high = result.held_out_range["logistic"]
    assert low <= result.held_out_ece["logistic"] <= high
    assert set(result.held_out_by_corpus["logistic"]) == {"default", "extended"}


def test_held_out_by_corpus_shows_what_one_map_for_both_hides() -> None:
    """Pooled, the raw score's map looks calibrated (the two corpora's errors cancel); per
    corpus it is not, and the logistic map with the legal share is."""
    scores, labels, features = legal_texts_are_harder()
    rows = zip(scores, labels, features, strict=True)
    observations = [Observation("dev", str(i), s, y, f,
                                "extended" if f["legal_share"] else "default")
                    for i, (s, y, f) in enumerate(rows)]  # fmt: skip
    _, result, _ = fit_observations(observations, k=5)
    platt, logistic = result.held_out_by_corpus["platt"], result.held_out_by_corpus["logistic"]
    assert platt["default"] > 0.15 and platt["extended"] > 0.15
    assert logistic["default"] < 0.08 and logistic["extended"] < 0.08


# --- reports ------------------------------------------------------------------------------


def test_reliability_plot_is_a_png(tmp_path: Path) -> None:
    path = tmp_path / "reliability.png"
    write_reliability_plot({"raw": pairs(0.9, 6, 4), "calibrated": pairs(0.6, 6, 4)}, path, "t")
    assert path.read_bytes()[:8] == PNG
    empty = tmp_path / "empty.png"
    write_reliability_plot({"nothing answered": []}, empty, "t")
    assert empty.read_bytes()[:8] == PNG


class FixedTarget:
    """Answers every question with the same text and confidence."""

    name = "fixed"

    def describe(self) -> dict[str, Any]:
        return {"mode": "test"}

    def ask(self, item: Item) -> Reply:
        data = {"answer": "The budget is 28 200 000 euro.", "behaviour": "answered",
                "confidence": 0.9, "timings": {"total": 1.0}}  # fmt: skip
        return Reply.from_answer(data, 1.0)

    def ranking(self, item: Item, reply: Reply) -> list[Passage]:
        return []

    def close(self) -> None:
        pass


def test_run_records_confidence_reports_ece_and_writes_the_plot(tmp_path: Path) -> None:
    items = [
        Item(
            id=f"q{i}",
            question="What is the EMN budget?",
            type="factoid",
            answer="x",
            key_facts=[fact],
            expected_behaviour="answer",
        )
        for i, fact in enumerate(["28 200 000", "28 200 000", "12 000"])
    ]
    metrics, records = run_target(FixedTarget(), items, progress=False)
    assert [r["confidence"] for r in records] == [0.9, 0.9, 0.9]
    assert metrics["ece"] == pytest.approx(abs(0.9 - 2 / 3), abs=1e-4)
    paths = write_outputs(build_results(metrics, records, run={"dataset": "x.jsonl"}), tmp_path)
    assert paths["reliability"].read_bytes()[:8] == PNG
    report = paths["report"].read_text(encoding="utf-8")
    assert "## Calibration" in report and "(reliability.png)" in report
    assert "| `ece` |" in report


# --- the command --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["blind-default.jsonl", "blind-extended.jsonl"])
def test_calibrate_refuses_blind_sets(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = PROJECT_ROOT / "evals" / "datasets" / name
    assert main(["calibrate", "--dataset", str(dataset)]) == 2
    assert "dev sets only" in capsys.readouterr().err


def test_make_calibrate_fits_on_the_sets_the_shipped_map_names() -> None:
    """`python -m evals calibrate` with no set given must refit on what rag/calibration.json
    says it was fitted on: the dev sets, the ones written blind included (all dev sets)."""
    import json

    from evals.targets import shown_path
    from evals.tune import default_sets

    shipped = set(json.loads((PROJECT_ROOT / "rag" / "calibration.json").read_text())["sets"])
    calibration = {shown_path(d) for d, _ in default_sets()}
    assert calibration <= shipped and "evals/datasets/dev.jsonl" in calibration
    assert "evals/datasets/dev-answerability.jsonl" in calibration
    assert not any("blind-" in s for s in shipped)
