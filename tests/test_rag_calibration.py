"""The confidence users see: rag/calibration.json read into a monotone map (the identity, with
a log line, when it is missing or invalid), and the assistant showing the mapped raw score
while its thresholds keep comparing the raw one."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from rag import steps
from rag.calibration import (
    CALIBRATION_FILE,
    IDENTITY,
    Calibration,
    calibrated,
    default_calibration,
    load_calibration,
    parse,
)
from rag.pipeline import Assistant
from rag.steps import Context

GRID = [i / 100 for i in range(101)]
# evals/datasets/dev.jsonl "wp-budget-total": answered with every key fact on the default index
QUESTION = (
    "What is the ceiling on EU funding for the European Migration Network's work programme "
    "covering 2026 and 2027?"
)


def monotone_within_0_1(mapping: Calibration) -> bool:
    values = [mapping(g) for g in GRID]
    return values == sorted(values) and all(0.0 <= v <= 1.0 for v in values)


# --- the map and its file -----------------------------------------------------------------


def test_shipped_calibration_is_a_fitted_monotone_map_with_its_provenance() -> None:
    data = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    mapping = parse(data)
    assert mapping != IDENTITY and monotone_within_0_1(mapping)
    assert {"fitted", "sets", "command"} <= set(data)
    assert data["command"].startswith("python -m evals calibrate")
    assert data["sets"] and not any("blind" in s for s in data["sets"])  # never fitted on blind


def test_forms_map_as_documented() -> None:
    isotonic = parse({"method": "isotonic", "x": [0.2, 0.6], "y": [0.1, 0.9]})
    assert isotonic(0.0) == 0.1 and isotonic(0.4) == pytest.approx(0.5) and isotonic(1.0) == 0.9
    platt = parse({"method": "platt", "a": 4.0, "b": -2.0})
    assert platt(0.5) == pytest.approx(0.5) and monotone_within_0_1(platt)
    assert platt(-3.0) == platt(0.0) and platt(7.0) == platt(1.0)  # raw clamped to [0, 1]
    assert parse({"method": "identity"})(0.37) == pytest.approx(0.37)
    assert monotone_within_0_1(isotonic)


def test_a_logistic_map_reads_the_legal_share_and_stays_increasing_in_the_raw_score() -> None:
    mapping = parse({"method": "logistic", "a": 2.0, "b": -1.0, "features": {"legal_share": -1.0}})
    assert mapping(0.5) == pytest.approx(0.5)  # no feature given: a legal share of 0
    assert mapping(0.5, {"legal_share": 0.0}) == pytest.approx(0.5)
    assert mapping(1.0, {"legal_share": 1.0}) == pytest.approx(0.5)
    assert mapping(0.5, {"legal_share": 1.0}) < mapping(0.5, {"legal_share": 0.5}) < 0.5
    for share in (0.0, 0.5, 1.0):
        values = [mapping(g, {"legal_share": share}) for g in GRID]
        assert values == sorted(values) and all(0.0 < v < 1.0 for v in values)
    assert parse(mapping.to_json()) == mapping


@pytest.mark.parametrize(
    "data",
    [
        {"method": "isotonic", "x": [0.2, 0.6], "y": [0.9, 0.1]},  # decreasing
        {"method": "isotonic", "x": [0.6, 0.2], "y": [0.1, 0.9]},  # x not ascending
        {"method": "isotonic", "x": [0.2, 0.6], "y": [0.1, 1.5]},  # outside [0, 1]
        {"method": "isotonic", "x": [], "y": []},
        {"method": "platt", "a": -1.0, "b": 0.0},  # decreasing
        {"method": "platt", "a": "nan", "b": 0.0},
        {"method": "logistic", "a": -1.0, "b": 0.0, "features": {}},  # decreasing in raw
        {"method": "logistic", "a": 1.0, "b": 0.0},  # no features object
        {"method": "logistic", "a": 1.0, "b": 0.0, "features": {"share_of_moon": 1.0}},
        {"method": "logistic", "a": 1.0, "b": 0.0, "features": {"legal_share": "inf"}},
        {"method": "spline"},
        ["not", "an", "object"],
    ],
)
def test_invalid_maps_are_refused(data: object) -> None:
    with pytest.raises(ValueError):
        parse(data)


def test_missing_file_falls_back_to_identity_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rag"):
        mapping = load_calibration(tmp_path / "calibration.json")
    assert mapping == IDENTITY and mapping(0.42) == pytest.approx(0.42)
    assert "not found" in caplog.text and "identity" in caplog.text


@pytest.mark.parametrize(
    "text", ["{not json", '{"method": "platt", "a": -2, "b": 0}', '{"method": "isotonic"}']
)
def test_invalid_file_falls_back_to_identity_with_a_log_line(
    text: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(text, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="rag"):
        assert load_calibration(path) == IDENTITY
    assert "invalid" in caplog.text and "identity" in caplog.text and str(path) in caplog.text


def test_nothing_verified_stays_zero() -> None:
    assert calibrated(0.0) == 0.0


# --- the assistant ------------------------------------------------------------------------


def ask(assistant: Assistant) -> tuple[Context, float]:
    """The context of one run (raw score included) and the confidence of its Answer."""
    ctx = Context(question=QUESTION, history=[], filters=None, composer="extractive")
    answer = assistant.to_answer(assistant.run(ctx))
    return ctx, answer.confidence


def test_confidence_is_the_map_of_the_raw_score(assistant: Assistant) -> None:
    ctx, shown = ask(assistant)
    assert ctx.behaviour == "answered", ctx.reason
    assert 0.0 < ctx.raw_confidence <= 1.0 and 0.0 <= shown <= 1.0
    features = steps.confidence_features(ctx)
    assert features == {"legal_share": 0.0}  # the default corpus holds no legal act
    assert ctx.confidence == pytest.approx(default_calibration()(ctx.raw_confidence, features))
    assert shown == round(ctx.confidence, 3)
    assert steps.raw_confidence(ctx) == pytest.approx(ctx.raw_confidence)


def test_thresholds_compare_the_raw_score(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A map that shows almost nothing changes the shown confidence, never the behaviour."""
    before, _ = ask(assistant)
    monkeypatch.setattr(steps, "calibrated", lambda raw, features=None: 0.01)
    after, shown = ask(assistant)
    assert shown == 0.01
    assert after.behaviour == before.behaviour == "answered"
    assert after.answer == before.answer and after.raw_confidence == before.raw_confidence


def test_the_legal_share_counts_the_cited_passages_from_legal_acts() -> None:
    from index.schema import Chunk, DocumentMeta
    from rag.retrieval import Candidate
    from rag.verify import Verified

    regulation = DocumentMeta(doc_id="reg", title="Regulation", kind="regulation")
    strategy = DocumentMeta(doc_id="st", title="Strategy", kind="strategy")
    passages = [
        Candidate(chunk=Chunk(id="a", doc=regulation, ordinal=0, text="Article 8 ...")),
        Candidate(chunk=Chunk(id="b", doc=strategy, ordinal=0, text="Building on ...")),
        Candidate(chunk=Chunk(id="c", doc=regulation, ordinal=1, text="Article 9 ...")),
    ]
    ctx = Context(question="q", history=[], filters=None, composer="extractive")
    assert steps.confidence_features(ctx) == {"legal_share": 0.0}  # nothing retrieved
    ctx.passages = passages
    ctx.verified = Verified(text="x [2]", cited=[1], kept=1)
    assert steps.confidence_features(ctx) == {"legal_share": 0.0}
    ctx.verified = Verified(text="x [1][2][3]", cited=[0, 1, 2], kept=1)
    assert steps.confidence_features(ctx) == {"legal_share": pytest.approx(2 / 3)}
    ctx.verified = Verified(text="x", cited=[], kept=1)  # no marker: the top passage counts
    assert steps.confidence_features(ctx) == {"legal_share": 1.0}
