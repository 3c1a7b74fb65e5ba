"""Evaluation metrics on hand-built examples: every number here can be checked by hand."""

from __future__ import annotations

import pytest

from evals import metrics as m
from evals.floors import FLOORS, check, load_floors

BUDGET = (
    "The maximum Union contribution for the implementation of the work programme for the "
    "years 2026-2027 is set at EUR 28 200 000."
)
GRANTS = "The global budgetary envelope reserved for grants under this programme is EUR 19 105 100."
NCPS = "Each Member State appoints a national contact point, which coordinates its EMN work."
OTHER = "Return remains a priority of the Pact on Migration and Asylum."


# --- retrieval ----------------------------------------------------------------------------


def test_hit_recall_mrr_by_rank() -> None:
    # quote 1 first found at rank 2, quote 2 at rank 4
    ranking = [OTHER, "Intro. " + BUDGET, OTHER, GRANTS, OTHER]
    scores = m.retrieval_scores(ranking, [BUDGET, GRANTS])
    assert scores["hit@1"] == 0.0
    assert scores["hit@3"] == 1.0
    assert scores["recall@3"] == 0.5
    assert scores["recall@5"] == 1.0
    assert scores["hit@10"] == 1.0 and scores["recall@10"] == 1.0
    assert scores["mrr"] == pytest.approx(0.5)


def test_retrieval_misses_and_empty_ranking() -> None:
    assert m.retrieval_scores([OTHER, NCPS], [BUDGET]) == {
        **{f"hit@{k}": 0.0 for k in m.KS},
        **{f"recall@{k}": 0.0 for k in m.KS},
        "mrr": 0.0,
    }
    assert m.retrieval_scores([], [BUDGET])["mrr"] == 0.0
    with pytest.raises(ValueError):
        m.retrieval_scores([BUDGET], [])


def test_quote_found_by_text_whatever_the_formatting() -> None:
    # digit groups, case and emphasis differ; the passage is all that counts (no doc ids)
    passage = "**The maximum Union contribution** for the implementation of the work programme "
    passage += "for the years 2026 – 2027 is set at EUR 28,200,000."
    assert m.retrieval_scores([passage], [BUDGET])["hit@1"] == 1.0


def test_rank_beyond_ten_is_ignored() -> None:
    ranking = [OTHER] * 10 + [BUDGET]
    scores = m.retrieval_scores(ranking, [BUDGET])
    assert scores["hit@10"] == 0.0
    assert scores["mrr"] == pytest.approx(1 / 11)  # MRR reads the whole ranking given


# --- answers ------------------------------------------------------------------------------


def test_key_fact_recall_with_alternatives_and_markers() -> None:
    answer = "The ceiling is EUR 28,200,000 [1]. Grants get EUR 19.1 million [2]."
    facts = ["28 200 000|28.2 million", "19 105 100|19.1 million", "4 664 900"]
    assert m.key_fact_recall(facts, answer) == pytest.approx(2 / 3)
    assert m.key_fact_recall([], answer) is None
    # a marker never completes a number: "[1]" is not the fact "1"
    assert m.key_fact_recall(["1"], "Nothing here [1].") == 0.0


def test_supports_counts_content_tokens() -> None:
    assert m.supports("The maximum Union contribution is EUR 28 200 000.", BUDGET)
    assert not m.supports("The grants go to national contact points in Norway.", BUDGET)
    assert m.content_tokens("The contributions [3] of the States.") == {"contribution", "state"}
    assert not m.supports("", BUDGET)


def test_answer_sentences_keep_their_markers() -> None:
    answer = "First claim [1][2]. Second claim without a source.\n- a bullet [3]"
    assert m.answer_sentences(answer) == [
        ("First claim.", [1, 2]),
        ("Second claim without a source.", []),
        ("a bullet", [3]),
    ]


def test_markers_end_a_sentence_even_before_a_colon() -> None:
    answer = "The budget is set as follows [2]: Overall, EUR 81 billion is proposed [3]."
    assert m.answer_sentences(answer) == [
        ("The budget is set as follows:", [2]),
        ("Overall, EUR 81 billion is proposed.", [3]),
    ]


def test_answer_scores_precision_and_unsupported() -> None:
    answer = (
        "The maximum Union contribution for 2026-2027 is EUR 28 200 000 [1]. "
        "Each Member State appoints a national contact point [2]. "
        "The EMN also funds 12 studies on Mars [3]. "
        "It is a good programme."
    )
    citations = {1: BUDGET, 2: OTHER, 3: NCPS}
    scores = m.answer_scores(answer, citations, gold_quotes=[BUDGET])
    # [1] holds the gold quote; [2] supports nothing it is cited for; [3] neither
    assert scores.cited_passages == 3 and scores.precise_citations == 1
    assert scores.citation_precision == pytest.approx(1 / 3)
    # sentences 2 (cites an unrelated passage), 3 and 4 (no citation) are unsupported
    assert scores.sentences == 4 and scores.unsupported_sentences == 3
    assert scores.unsupported_sentence_rate == pytest.approx(0.75)
    # 12 is in no cited passage; 28 200 000 and 2026-2027 are
    assert scores.unsupported_number_values == ["12"]
    assert scores.unsupported_numbers == 1


def test_citation_supporting_its_sentence_counts_as_precise_without_gold() -> None:
    answer = "Each Member State appoints a national contact point [1]."
    scores = m.answer_scores(answer, {1: NCPS}, gold_quotes=[BUDGET])
    assert scores.citation_precision == 1.0
    assert scores.unsupported_sentence_rate == 0.0


def test_answer_scores_without_citations_or_sentences() -> None:
    scores = m.answer_scores("No source at all.", {}, gold_quotes=[BUDGET])
    assert scores.citation_precision is None
    assert scores.unsupported_sentence_rate == 1.0
    empty = m.answer_scores("", {}, gold_quotes=[])
    assert empty.unsupported_sentence_rate is None and empty.sentences == 0


def test_unsupported_numbers_formats() -> None:
    passages = ["Budget of EUR 28 200 000 and a share of 51.4 % in 2025."]
    assert m.unsupported_numbers("EUR 28,200,000 [1], 51.4 % [1], 2025 [2].", passages) == []
    assert m.unsupported_numbers("EUR 28,300,000 [1] in 2024.", passages) == ["28300000", "2024"]


# --- behaviour and latency ----------------------------------------------------------------


def test_behaviour_and_confusion_matrix() -> None:
    assert m.behaviour_correct("answer", "answered")
    assert m.behaviour_correct("decline", "declined")
    assert not m.behaviour_correct("abstain", "answered")
    matrix = m.confusion_matrix(
        [
            ("answer", "answered"),
            ("answer", "abstained"),
            ("decline", "declined"),
            ("abstain", "error"),
        ]
    )
    assert matrix["answer"] == {"answered": 1, "abstained": 1, "declined": 0, "error": 0}
    assert matrix["abstain"]["error"] == 1
    assert matrix["decline"]["declined"] == 1


def test_percentiles_interpolate() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert m.percentile(values, 50) == 30.0
    assert m.percentile(values, 95) == pytest.approx(48.0)
    assert m.percentile([7.0], 95) == 7.0
    assert m.percentile([], 50) is None


def test_latency_summary_per_step() -> None:
    summary = m.latency_summary(
        [{"retrieve": 10, "total": 12}, {"retrieve": 30, "total": 32}, {"guard_in": 1, "total": 1}]
    )
    assert summary["retrieve"] == {"p50": 20.0, "p95": 29.0, "mean": 20.0, "n": 2}
    assert summary["total"]["n"] == 3 and summary["total"]["p50"] == 12.0


def test_aggregate_means_over_defined_values() -> None:
    rows = [
        {
            "expected": "answer",
            "behaviour": "answered",
            "hit@5": 1.0,
            "mrr": 1.0,
            "key_fact_recall": 1.0,
            "citation_precision": 0.5,
            "unsupported_sentence_rate": 0.0,
            "unsupported_numbers": 2,
            "answer_chars": 100,
            "latency_ms": 10.0,
        },
        {
            "expected": "answer",
            "behaviour": "abstained",
            "hit@5": 0.0,
            "mrr": 0.0,
            "key_fact_recall": 0.0,
            "citation_precision": None,
            "unsupported_sentence_rate": None,
            "unsupported_numbers": None,
            "answer_chars": None,
            "latency_ms": 20.0,
        },
        {
            "expected": "decline",
            "behaviour": "declined",
            "hit@5": None,
            "mrr": None,
            "key_fact_recall": None,
            "latency_ms": 30.0,
        },
    ]
    out = m.aggregate(rows)
    assert out["hit@5"] == 0.5 and out["mrr"] == 0.5
    assert out["key_fact_recall"] == 0.5
    assert out["citation_precision"] == 0.5  # the abstention has no citations: not counted
    assert out["unsupported_numbers"] == 2  # summed
    assert out["behaviour_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert out["answer_chars_mean"] == 100.0
    assert out["latency_p50_ms"] == 20.0
    assert out["hit@1"] is None  # no row defines it
    assert out["confusion_matrix"]["answer"]["abstained"] == 1
    assert (out["questions"], out["with_sources"], out["answer_expected"]) == (3, 2, 2)


# --- floors -------------------------------------------------------------------------------


def test_floors_file_is_valid_and_checks_bounds() -> None:
    bounds = load_floors(FLOORS)
    for metric in ("behaviour_accuracy", "key_fact_recall", "hit@5", "citation_precision"):
        assert metric in bounds["floors"]
    assert "unsupported_sentence_rate" in bounds["ceilings"]
    checks = check(
        {"hit@5": 0.9, "unsupported_sentence_rate": 0.2},
        {"floors": {"hit@5": 0.8, "mrr": 0.5}, "ceilings": {"unsupported_sentence_rate": 0.1}},
    )
    assert [(c.metric, c.ok) for c in checks] == [
        ("hit@5", True),
        ("mrr", False),  # missing from the run: fails
        ("unsupported_sentence_rate", False),
    ]
    assert "FAIL" in checks[2].line() and "0.2" in checks[2].line()


def test_floors_file_errors(tmp_path) -> None:
    bad = tmp_path / "floors.toml"
    bad.write_text('[floors]\n"hit@5" = "high"\n')
    with pytest.raises(ValueError, match="must be a number"):
        load_floors(bad)
    with pytest.raises(ValueError, match="no such file"):
        load_floors(tmp_path / "missing.toml")
