"""The learned sentence ranker: fitting, its file, the composer reading it, and the
cross-validation that decides whether it ships (`python -m evals ranker`).

Unit tests on synthetic candidates; the composer and the cross-validation on the real default
index (session fixture), with the real embedding model.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from common.settings import PROJECT_ROOT, Settings
from evals.ranker import BLENDS, labelled, run_ranker
from rag.composers.extractive import _Sentence
from rag.pipeline import Assistant
from rag.sentence_ranker import (
    FEATURES,
    Candidate,
    SentenceRanker,
    fit_ranker,
    load_ranker,
)


def candidate(asked: float, similarity: float, right: bool) -> Candidate:
    features = {name: 0.0 for name in FEATURES}
    features.update(asked=asked, similarity=similarity)
    return Candidate(features=features, hand_score=0.5 * similarity, right=right)


def questions() -> list[list[Candidate]]:
    """The right sentence holds the asked-for value; similarity is a decoy that favours a
    wrong one as often as the right one."""
    out = []
    for i in range(12):
        decoy = 0.9 if i % 2 else 0.3
        out.append(
            [
                candidate(1.0, 0.6, True),
                candidate(0.0, decoy, False),
                candidate(0.0, 0.5, False),
            ]
        )
    return out


def test_fit_learns_the_signal_that_marks_the_right_sentence() -> None:
    ranker = fit_ranker(questions())
    assert ranker.weights["asked"] > 0
    assert abs(ranker.weights["asked"]) > abs(ranker.weights["similarity"])
    for question in questions():
        best = max(question, key=lambda c: ranker.score(c.features))
        assert best.right


def test_fit_puts_the_learned_score_on_the_hand_scale() -> None:
    ranker = fit_ranker(questions())
    assert ranker.slope > 0
    scores = [ranker.score(c.features) for q in questions() for c in q]
    hands = [c.hand_score for q in questions() for c in q]
    # Same mean (least squares with an intercept), so floors and bonuses keep their meaning.
    assert sum(scores) / len(scores) == pytest.approx(sum(hands) / len(hands), abs=1e-3)


def test_fit_without_any_right_sentence_is_an_error() -> None:
    with pytest.raises(ValueError, match="no question"):
        fit_ranker([[candidate(0.0, 0.5, False)]])


def test_blend_mixes_learned_and_hand_scores() -> None:
    ranker = fit_ranker(questions())
    features = questions()[0][0].features
    learned = ranker.score(features)
    half = replace(ranker, blend=0.5)
    assert half.blended(features, 0.2) == pytest.approx(0.5 * learned + 0.1)
    assert ranker.blended(features, 0.2) == pytest.approx(learned)


def test_saved_ranker_loads_back(tmp_path: Path) -> None:
    ranker = fit_ranker(questions(), trained_on="synthetic")
    path = tmp_path / "ranker.json"
    ranker.save(path)
    assert load_ranker(path) == ranker


def test_absent_file_means_hand_weights(tmp_path: Path) -> None:
    assert load_ranker(tmp_path / "nothing.json") is None


@pytest.mark.parametrize(
    "change",
    [
        {
            "weights": {"no such feature": 1.0},
            "mean": {"no such feature": 0.0},
            "scale": {"no such feature": 1.0},
        },
        {"slope": -1.0},
        {"blend": 0.0},
    ],
)
def test_invalid_file_is_logged_and_hand_weights_rank(
    tmp_path: Path, change: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    document = json.loads(json.dumps(fit_ranker(questions()).__dict__))
    document.update(change)
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert load_ranker(path) is None
    assert "ranker.json is invalid" in caplog.text


def test_a_sentence_is_right_when_it_or_its_list_states_a_key_fact() -> None:
    import numpy as np

    lead_in = _Sentence(0, 0, "The amounts are as follows:", np.zeros(2), 0.5,
                        items=["(a) EUR 25 450 000 for 2026;"])  # fmt: skip
    other = _Sentence(0, 3, "The network has a Steering Board.", np.zeros(2), 0.4)
    right = labelled([lead_in, other], ["25 450 000|25,450,000"])
    assert [c.right for c in right] == [True, False]


def position_ranker(tmp_path: Path, lead_only: bool = False) -> Path:
    """A ranker that prefers a passage's later sentences, whatever they say."""
    ranker = SentenceRanker(
        weights={"position": 1.0}, mean={"position": 0.0}, scale={"position": 1.0},
        slope=1.0, intercept=0.0, lead_only=lead_only,
    )  # fmt: skip
    path = tmp_path / f"position-{lead_only}.json"
    ranker.save(path)
    return path


QUESTION = "How much is allocated to the EMN for the year 2027?"


def test_the_composer_ranks_with_the_configured_ranker(
    default_index_settings: Settings, tmp_path: Path
) -> None:
    hand = Assistant(default_index_settings.model_copy(update={"sentence_ranker": None}))
    assert hand.composers["extractive"].ranker is None  # type: ignore[attr-defined]
    learned = Assistant(
        default_index_settings.model_copy(update={"sentence_ranker": position_ranker(tmp_path)})
    )
    assert learned.composers["extractive"].ranker is not None  # type: ignore[attr-defined]
    by_hand, by_position = hand.ask(QUESTION), learned.ask(QUESTION)
    assert "EUR" in by_hand.answer.splitlines()[0] and "2 750 000" in by_hand.answer
    assert by_position.answer != by_hand.answer


def test_a_lead_only_ranker_changes_the_order_not_the_sentences(
    default_index_settings: Settings, tmp_path: Path
) -> None:
    hand = Assistant(default_index_settings.model_copy(update={"sentence_ranker": None}))
    lead = Assistant(
        default_index_settings.model_copy(
            update={"sentence_ranker": position_ranker(tmp_path, lead_only=True)}
        )
    )
    question = "What are the tasks of the National Contact Points?"
    by_hand, led = hand.ask(question), lead.ask(question)

    # Markers are renumbered in order of appearance: compare the quoted sentences.
    def quoted(text: str) -> list[str]:
        return sorted(re.sub(r"\[\d+\]", "", line).strip() for line in text.splitlines())

    assert quoted(by_hand.answer) == quoted(led.answer)
    assert by_hand.answer.splitlines()[0] != led.answer.splitlines()[0]


def test_cross_validation_scores_every_setting_and_ships_only_a_winner(
    default_index_settings: Settings, tmp_path: Path
) -> None:
    dev = [
        line
        for line in (PROJECT_ROOT / "evals" / "datasets" / "dev.jsonl").read_text().splitlines()
        if '"expected_behaviour": "answer"' in line
    ][:8]
    dataset = tmp_path / "dev-small.jsonl"
    dataset.write_text("\n".join(dev) + "\n", encoding="utf-8")
    ship = tmp_path / "shipped.json"
    ship.write_text("stale", encoding="utf-8")
    result = run_ranker([(dataset, default_index_settings.index_dir)], tmp_path / "out", k=2,
                        ship_to=ship, progress=lambda _: None)  # fmt: skip
    scores = json.loads((tmp_path / "out" / "ranker.json").read_text())["scores"]
    assert set(scores) == set(BLENDS)
    assert all(len(values) == 8 for values in scores.values())
    assert result.cross_validation.chosen in BLENDS
    assert result.shipped == (result.cross_validation.chosen != "hand weights")
    # Shipped: the file is the ranker fitted on all questions; not shipped: no stale file.
    assert ship.exists() == result.shipped
    assert "Verdict" in (tmp_path / "out" / "ranker.md").read_text()
    assert load_ranker(tmp_path / "out" / "sentence_ranker.json") == result.ranker


def test_the_ranker_refuses_blind_sets() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "evals", "ranker", "--dataset",
         str(PROJECT_ROOT / "evals" / "datasets" / "blind-default.jsonl")],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2
    assert "dev sets only" in run.stderr
