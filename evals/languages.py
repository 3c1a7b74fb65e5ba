"""Per-language figures of a multilingual run: each language beside English on the same
questions (items carry `language` and `translation_of`), and the targets of the languages
issue: key-fact recall within 0.10 of English, hit@5 >= 0.85, declines >= 95%, no in-scope
question declined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.language import EU_LANGUAGES
from evals import metrics as m
from evals.report import fmt, markdown_table

KFR_GAP = 0.10
HIT_AT_5 = 0.85
DECLINES = 0.95


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def per_language(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per language: questions, key-fact recall, the English recall on the same questions,
    hit@5, behaviour accuracy, declines, in-scope questions declined, detection, p95."""
    english = {
        r["translation_of"]: r["metrics"]
        for r in records
        if r.get("language") == "en" and r.get("translation_of")
    }
    out: dict[str, dict[str, Any]] = {}
    languages = sorted({r.get("language", "en") for r in records}, key=_order)
    for language in languages:
        rows = [r for r in records if r.get("language", "en") == language]
        agg = m.aggregate([r["metrics"] for r in rows])
        answerable = [
            r
            for r in rows
            if r["expected_behaviour"] == "answer"
            and r["metrics"].get("key_fact_recall") is not None
        ]
        same = [
            english[r["translation_of"]].get("key_fact_recall")
            for r in answerable
            if r.get("translation_of") in english
        ]
        same = [v for v in same if v is not None]
        declines = [r for r in rows if r["expected_behaviour"] == "decline"]
        in_scope = [r for r in rows if r["expected_behaviour"] != "decline"]
        detected = [r for r in rows if r.get("detected_language")]
        out[language] = {
            "questions": len(rows),
            "answerable": len(answerable),
            "key_fact_recall": agg.get("key_fact_recall"),
            "english_same_questions": _mean(same),
            "hit@5": agg.get("hit@5"),
            "behaviour_accuracy": agg.get("behaviour_accuracy"),
            "declines": len(declines),
            "declined_share": _mean([float(r["behaviour"] == "declined") for r in declines]),
            "in_scope_declined": sum(1 for r in in_scope if r["behaviour"] == "declined"),
            "detected_share": _mean([float(r["detected_language"] == language) for r in detected]),
            "latency_p95_ms": agg.get("latency_p95_ms"),
        }
        kfr, base = out[language]["key_fact_recall"], out[language]["english_same_questions"]
        out[language]["gap"] = (kfr - base) if kfr is not None and base is not None else None
    return out


def _order(code: str) -> int:
    return EU_LANGUAGES.index(code) if code in EU_LANGUAGES else len(EU_LANGUAGES)


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def language_table(table: dict[str, dict[str, Any]]) -> list[str]:
    """One row per language with the targets marked (✓ met, ✗ missed)."""
    rows = []
    for language, row in table.items():
        gap = row["gap"]
        hit = row["hit@5"]
        declined = row["declined_share"]
        rows.append(
            [
                language,
                f"{row['questions']}",
                fmt(row["key_fact_recall"], "x"),
                fmt(row["english_same_questions"], "x"),
                "—" if gap is None else f"{gap:+.2f}{_mark(gap >= -KFR_GAP)}",
                f"{fmt(hit, 'x')}{_mark(None if hit is None else hit >= HIT_AT_5)}",
                fmt(row["behaviour_accuracy"], "x"),
                f"{fmt(declined, 'x')}{_mark(None if declined is None else declined >= DECLINES)}",
                f"{row['in_scope_declined']}{_mark(row['in_scope_declined'] == 0)}",
                fmt(row["detected_share"], "x"),
                fmt(row["latency_p95_ms"], "x"),
            ]
        )
    header = [
        "language", "q", "key-fact recall", "English, same q", "gap (≥ -0.10)",
        "hit@5 (≥ 0.85)", "behaviour", "declined (≥ 0.95)", "in scope declined (0)",
        "detected", "p95 ms",
    ]  # fmt: skip
    return markdown_table(header, rows)


def targets_met(table: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Whether each target holds in every language."""
    rows = list(table.values())
    return {
        "key_fact_recall_gap": all(r["gap"] is None or r["gap"] >= -KFR_GAP for r in rows),
        "hit@5": all(r["hit@5"] is None or r["hit@5"] >= HIT_AT_5 for r in rows),
        "declines": all(
            r["declined_share"] is None or r["declined_share"] >= DECLINES for r in rows
        ),
        "in_scope_declined": all(r["in_scope_declined"] == 0 for r in rows),
    }


def render_languages(results: dict[str, Any]) -> list[str]:
    """The per-language section of a run's report (empty for a one-language set)."""
    records = results.get("questions", [])
    if len({r.get("language", "en") for r in records}) < 2:
        return []
    table = per_language(records)
    met = targets_met(table)
    lines = ["## Per language", ""]
    lines += [
        "Each language beside English on the same questions (its translations). Targets: "
        "key-fact recall within 0.10 of English, hit@5 ≥ 0.85, declines ≥ 95%, no in-scope "
        "question declined. In every language: "
        + ", ".join(f"{k} {'met' if v else 'missed'}" for k, v in met.items())
        + ".",
        "",
    ]
    lines += language_table(table)
    return [*lines, ""]
