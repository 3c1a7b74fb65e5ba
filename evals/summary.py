"""The side-by-side page of `make eval`: the dev set (tuned on), the blind sets (never tuned
on) and the targets, overall, per question type and per document kind.

A figure from the set that chose the weights says little about the next question; the blind
sets, written by someone who saw only the documents, say more. Reading the two side by side
shows how much of the dev figure is fitted to the dev set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.settings import PROJECT_ROOT
from evals.dataset import ITEM_TYPES, load_dataset
from evals.languages import language_table, per_language, targets_met
from evals.report import fmt, markdown_table

# (folder under the reports folder, label, what it is)
SETS: tuple[tuple[str, str, str], ...] = (
    (".", "dev", "the project's dev set, 141 q, default corpus (weights are tuned on it)"),
    (
        "dev-extended",
        "dev, extended corpus",
        "a development set over the extended corpus (open to tuning, like dev)",
    ),
    (
        "dev-answerability",
        "dev, near misses",
        "written blind over the five default documents, 45 unanswerable near misses each beside "
        "an answerable twin (a dev set: open to tuning)",
    ),
    (
        "dev-extended2",
        "dev 2, extended corpus",
        "written blind over the extended corpus (a dev set: open to tuning)",
    ),
    (
        "dev-answerability2",
        "dev, near misses 2",
        "written blind over the five default documents: 40 answerable questions, each beside "
        "its unanswerable near miss (a dev set: open to tuning)",
    ),
    (
        "dev-answerability3",
        "dev, near misses 3, extended corpus",
        "written blind over the extended corpus's legal texts: 30 answerable questions, each "
        "beside its unanswerable near miss (a dev set: open to tuning)",
    ),
    ("blind-default", "blind, default corpus", "written blind over the five default documents"),
    (
        "blind-extended",
        "blind, extended corpus",
        "written blind over the 18 real EU texts of evals/corpus-extended/ (indexed with the "
        "default corpus)",
    ),
)
# Targets of the answer-quality issue, on the blind sets. (bound, higher is better)
_EVERY_BLIND_SET: dict[str, tuple[float, bool]] = {
    "wrong_abstention": (0.03, False),
    "first_sentence_fact": (0.80, True),
    "citation_precision": (0.97, True),
    "unsupported_sentence_rate": (0.0, False),
    "ece": (0.10, False),
}
TARGETS: dict[str, dict[str, tuple[float, bool]]] = {
    "blind-default": {
        "key_fact_recall": (0.85, True),
        "hit@5": (0.95, True),
        "behaviour_accuracy": (0.95, True),
        "all_key_facts": (0.80, True),
        **_EVERY_BLIND_SET,
    },
    "blind-extended": {
        "key_fact_recall": (0.75, True),
        "hit@5": (0.85, True),
        "behaviour_accuracy": (0.90, True),
        "latency_p95_ms": (150.0, False),
        **_EVERY_BLIND_SET,
    },
}
ROWS: tuple[tuple[str, str], ...] = (
    ("key_fact_recall", "key-fact recall"),
    ("all_key_facts", "answerable questions with every key fact"),
    ("composition_ceiling", "ceiling: all key facts in 1-2 sentences of the top 5"),
    ("retrieval_ceiling", "ceiling: all key facts in the top 5 passages"),
    ("first_sentence_fact", "factoid answers whose first sentence holds a key fact"),
    ("hit@5", "hit@5"),
    ("recall@5", "recall@5"),
    ("mrr", "MRR"),
    ("behaviour_accuracy", "behaviour accuracy"),
    ("wrong_abstention", "wrong abstentions (gold passage in the top 5)"),
    ("citation_precision", "citation precision"),
    ("unsupported_sentence_rate", "unsupported-sentence rate"),
    ("ece", "expected calibration error (answered, 10 bins)"),
    ("latency_p95_ms", "latency p95 (ms, in process)"),
)
CATALOGS = (PROJECT_ROOT / "corpus" / "catalog.json",
            PROJECT_ROOT / "evals" / "corpus-extended" / "catalog.json")  # fmt: skip


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def kinds_by_file(catalogs: Sequence[Path] = CATALOGS) -> dict[str, str]:
    """Document file name -> catalog kind, over every catalog."""
    out: dict[str, str] = {}
    for path in catalogs:
        data = _load(path) or {"documents": []}
        for entry in data["documents"]:
            out[Path(entry["file"]).name] = entry.get("kind", "document")
    return out


def _target_cell(name: str, key: str, value: Any) -> str:
    bound = TARGETS.get(name, {}).get(key)
    if bound is None:
        return fmt(value, key)
    limit, higher = bound
    if not isinstance(value, int | float):
        return f"{fmt(value, key)} (target {'≥' if higher else '≤'} {fmt(limit, key)})"
    met = value >= limit - 1e-9 if higher else value <= limit + 1e-9
    sign = "≥" if higher else "≤"
    return f"{fmt(value, key)} ({'met' if met else 'missed'}: {sign} {fmt(limit, key)})"


def per_kind(results: dict[str, Any], kinds: dict[str, str]) -> dict[str, dict[str, float]]:
    """hit@5 and key-fact recall of answerable questions, by the kind of their gold
    document (a question citing two kinds counts for each)."""
    dataset = results.get("run", {}).get("dataset")
    if not dataset:
        return {}
    path = Path(dataset)
    path = path if path.is_absolute() else PROJECT_ROOT / path
    if not path.is_file():
        return {}
    items = {item.id: item for item in load_dataset(path)}
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in results.get("questions", []):
        item = items.get(record["id"])
        if item is None or item.expected_behaviour != "answer":
            continue
        for kind in {kinds.get(Path(s.doc).name, "unknown") for s in item.sources}:
            groups.setdefault(kind, []).append(record["metrics"])
    out: dict[str, dict[str, float]] = {}
    for kind, rows in sorted(groups.items()):
        out[kind] = {"questions": len(rows)}
        for key in ("hit@5", "key_fact_recall", "all_key_facts"):
            values = [r[key] for r in rows if r.get(key) is not None]
            if values:
                out[kind][key] = sum(values) / len(values)
    return out


def render_summary(reports: Path) -> str:
    found = [(folder, label, about, _load(reports / folder / "results.json"))
             for folder, label, about in SETS]  # fmt: skip
    found = [(f, lab, about, r) for f, lab, about, r in found if r is not None]
    names = {".": "dev"}  # a folder's name is its set's name in TARGETS
    lines = [
        "# Evaluation summary: dev and blind sets side by side",
        "",
        "Weights and thresholds are chosen on the dev set only (k-fold cross-validation, "
        "`python -m evals tune`); the blind sets are run to report, never to choose. A change "
        "that raises dev and lowers blind is a regression. Targets apply to the blind sets.",
        "",
    ]
    for _, label, about, results in found:
        run = results.get("run", {})
        count = len(results.get("questions", []))
        lines.append(
            f"- **{label}**: {about}; `{run.get('dataset', '?')}`, {count} questions, "
            f"{run.get('started', '')}"
        )
    lines += ["", "## Overall", ""]
    header = ["metric"] + [label for _, label, _, _ in found]
    rows = []
    for key, title in ROWS:
        row = [title]
        for folder, _, _, results in found:
            row.append(_target_cell(names.get(folder, folder), key, results["metrics"].get(key)))
        rows.append(row)
    lines += markdown_table(header, rows)
    lines += ["", "## Key-fact recall and behaviour accuracy per question type", ""]
    labels = [label for _, label, _, _ in found]
    per_type = [results["metrics"].get("per_type", {}) for *_, results in found]
    types = [t for t in ITEM_TYPES if any(t in table for table in per_type)]
    lines += _breakdown("type", types, per_type, ("key_fact_recall", "behaviour_accuracy"),
                        labels)  # fmt: skip
    lines += ["", "## Answerable questions per document kind (hit@5 / key-fact recall)", ""]
    kinds = kinds_by_file()
    by_set = [per_kind(results, kinds) for *_, results in found]
    all_kinds = sorted({k for table in by_set for k in table})
    lines += _breakdown("document kind", all_kinds, by_set, ("hit@5", "key_fact_recall"), labels)
    lines.append("")
    lines += _languages(reports)
    return "\n".join(lines)


# (folder, label): the per-language sets, English rows included.
LANGUAGE_SETS: tuple[tuple[str, str], ...] = (
    ("multilingual-blind", "blind questions (blind-default) in the 24 official languages"),
    ("multilingual-dev", "dev questions in the 24 official languages (open to tuning)"),
)


def _languages(reports: Path) -> list[str]:
    """Each language beside English on the same questions, per multilingual set."""
    lines: list[str] = []
    for folder, label in LANGUAGE_SETS:
        results = _load(reports / folder / "results.json")
        if results is None:
            continue
        table = per_language(results.get("questions", []))
        met = targets_met(table)
        lines += [f"## Per language: {label}", ""]
        lines += [
            "Targets in every language: "
            + ", ".join(f"{k} {'met' if v else 'missed'}" for k, v in met.items())
            + ".",
            "",
        ]
        lines += language_table(table)
        lines.append("")
    return lines


def _breakdown(title: str, groups: Sequence[str], tables: Sequence[dict[str, Any]],
               keys: tuple[str, str], labels: Sequence[str]) -> list[str]:  # fmt: skip
    """One row per group, one "a / b (n q)" cell per set ("—" where the set has none)."""
    rows = []
    for group in groups:
        row = [group]
        for table in tables:
            cell = table.get(group)
            row.append(
                "—"
                if cell is None
                else f"{fmt(cell.get(keys[0]), 'x')} / {fmt(cell.get(keys[1]), 'x')} "
                f"({cell.get('questions', 0):.0f} q)"
            )
        rows.append(row)
    return markdown_table([title, *labels], rows)


def write_summary(reports: Path) -> Path:
    path = reports / "summary.md"
    path.write_text(render_summary(reports), encoding="utf-8")
    return path
