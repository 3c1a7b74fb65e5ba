"""The verifier's figure check compares values (rag/figures.py): a faithful rewording of a
figure is kept, an invented figure is still caught."""

from __future__ import annotations

import pytest

from rag.figures import missing_figures


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        ("The contribution is EUR 28.2 million.", "set at EUR 28 200 000 and financed"),
        ("Some 30,000 persons were relocated.", "some 30 000 persons were relocated"),
        ("The share rose to 12 per cent.", "the share rose to 12%"),
        ("The share rose to 12%.", "the share rose to 12 per cent"),
        ("Applicants have 3 months to appeal.", "applicants have three months to appeal"),
        ("EUR 1.5 billion was allocated.", "EUR 1 500 000 000 was allocated"),
        ("Its rate was 9,3 %.", "its rate was 9.3 %"),
    ],
)
def test_faithful_rewording_of_a_figure_is_found(sentence: str, passage: str) -> None:
    assert missing_figures(sentence, [passage]) == []


@pytest.mark.parametrize(
    ("sentence", "passage", "missing"),
    [
        ("The contribution is EUR 28.5 million.", "set at EUR 28 200 000", ["28.5"]),
        ("Applicants have 4 months to appeal.", "applicants have three months", ["4"]),
        ("It was 12%.", "it was 21 per cent", ["12"]),
        ("The 3rd report came in 2025.", "the third report came in 2024", ["2025"]),
    ],
)
def test_invented_figure_is_still_missing(sentence: str, passage: str, missing: list[str]) -> None:
    assert missing_figures(sentence, [passage]) == missing
