"""The model card quotes the latest evaluation run, and nothing else (AI Act Art. 13)."""

from __future__ import annotations

from evals.model_card import MODEL_CARD, RESULTS, accuracy_section, current_section


def test_model_card_accuracy_matches_latest_evaluation() -> None:
    assert RESULTS.exists(), "run `make eval` to produce evals/reports/latest/results.json"
    assert current_section(MODEL_CARD) == accuracy_section(RESULTS).strip(), (
        "docs/model-card.md disagrees with evals/reports/latest: run `python -m evals.model_card`"
    )


def test_model_card_states_purpose_limits_and_cutoff() -> None:
    text = MODEL_CARD.read_text(encoding="utf-8")
    for heading in ("## Intended purpose", "## Excluded uses", "## Corpus and cut-off",
                    "## Languages", "## Known limits", "## How to read an answer"):  # fmt: skip
        assert heading in text
