"""The model card's accuracy section, generated from the latest evaluation run, so the
instructions for use (AI Act Art. 13) never quote figures the evaluation did not produce.

`python -m evals.model_card` rewrites the section in docs/model-card.md;
`tests/test_model_card.py` fails when the two disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from common.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "evals" / "reports" / "latest" / "results.json"
MODEL_CARD = PROJECT_ROOT / "docs" / "model-card.md"
START, END = "<!-- accuracy:start -->", "<!-- accuracy:end -->"

ROWS = [
    ("behaviour_accuracy", "Behaviour accuracy (answered / abstained / declined as expected)"),
    ("key_fact_recall", "Key-fact recall of answers"),
    ("citation_precision", "Citation precision"),
    ("unsupported_sentence_rate", "Unsupported-sentence rate (lower is better)"),
    ("unsupported_numbers", "Figures not found in a cited passage (count, lower is better)"),
    ("hit@5", "Retrieval hit@5 (a gold passage among the top 5)"),
    ("mrr", "Retrieval MRR"),
    ("latency_p50_ms", "Latency p50 (ms, in process)"),
    ("latency_p95_ms", "Latency p95 (ms, in process)"),
]


def _fmt(key: str, value: object) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    if key == "ece":
        return f"{value:.3f}"
    if key.startswith("latency") or key == "unsupported_numbers":
        return f"{value:.0f}" if key.startswith("latency") else f"{value:g}"
    return f"{value:.1%}"


def accuracy_section(results_path: Path = RESULTS) -> str:
    results = json.loads(results_path.read_text(encoding="utf-8"))
    ours = results.get("metrics", {})
    base = results.get("baseline") or {}
    questions = len(results.get("questions", []))
    lines = [
        f"Measured on the development set ({questions} questions, "
        f"`evals/datasets/dev.jsonl`) by `make eval`; source: "
        "`evals/reports/latest/results.json`.",
        "",
        "| Metric | This assistant | Naive RAG baseline |",
        "|---|---|---|",
    ]
    for key, label in ROWS:
        lines.append(f"| {label} | {_fmt(key, ours.get(key))} | {_fmt(key, base.get(key))} |")
    lines += _blind_rows(results_path.parent)
    lines += _language_rows(results_path.parent)
    return "\n".join(lines)


BLIND_ROWS = (
    ("key_fact_recall", "Key-fact recall"),
    ("all_key_facts", "Answerable questions with every key fact"),
    ("behaviour_accuracy", "Behaviour accuracy"),
    ("hit@5", "Retrieval hit@5"),
    ("ece", "Expected calibration error of confidence (lower is better)"),
)


def _blind_rows(reports: Path) -> list[str]:
    """The figures to expect on unseen questions: the blind sets were written by someone who
    saw only the documents, and nothing was tuned on them."""
    from evals.summary import SETS

    found = []
    for folder, label, _ in SETS:
        if not folder.startswith("blind"):
            continue
        path = reports / folder / "results.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append((label, data.get("metrics", {}), len(data.get("questions", []))))
    if not found:
        return []
    lines = [
        "",
        "The dev set's weights were tuned on it, so its figures are optimistic. On question "
        "sets written blind (by someone who saw only the documents; never tuned on), the "
        "same run measured:",
        "",
        "| Metric | " + " | ".join(f"{label} ({n} q)" for label, _, n in found) + " |",
        "|---|" + "---|" * len(found),
    ]
    for key, label in BLIND_ROWS:
        lines.append(
            f"| {label} | " + " | ".join(_fmt(key, m.get(key)) for _, m, _ in found) + " |"
        )
    return lines


def _language_rows(reports: Path) -> list[str]:
    """Questions in the other official EU languages: the blind questions translated, each
    language beside English on the same questions."""
    from evals.languages import per_language

    path = reports / "multilingual-blind" / "results.json"
    if not path.is_file():
        return []
    table = per_language(json.loads(path.read_text(encoding="utf-8")).get("questions", []))
    lines = [
        "",
        "Questions in the 24 official EU languages (the blind questions translated, plus "
        "declines and an unanswerable question per language; "
        "`evals/datasets/multilingual-blind.jsonl`). Quoted passages stay in English:",
        "",
        "| Language | Key-fact recall | English, same questions | Retrieval hit@5 | "
        "Behaviour accuracy |",
        "|---|---|---|---|---|",
    ]
    for code, row in table.items():
        lines.append(
            f"| {code} | {_fmt('key_fact_recall', row['key_fact_recall'])} | "
            f"{_fmt('key_fact_recall', row['english_same_questions'])} | "
            f"{_fmt('hit@5', row['hit@5'])} | "
            f"{_fmt('behaviour_accuracy', row['behaviour_accuracy'])} |"
        )
    return lines


def update(model_card: Path = MODEL_CARD, results_path: Path = RESULTS) -> None:
    text = model_card.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    section = accuracy_section(results_path)
    model_card.write_text(f"{head}{START}\n{section}\n{END}{tail}", encoding="utf-8")


def current_section(model_card: Path = MODEL_CARD) -> str:
    text = model_card.read_text(encoding="utf-8")
    return text.split(START, 1)[1].split(END, 1)[0].strip()


if __name__ == "__main__":
    update()
    sys.stdout.write(f"updated {MODEL_CARD.relative_to(PROJECT_ROOT)}\n")
