"""Writes a run's results.json, report.md and charts (metrics per question type, and the
reliability plot of the confidence; PNG)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.calibration import calibration_pairs, write_reliability_plot
from evals.metrics import KS, SUPPORT_SHARE
from evals.runner import HEADLINE, LOWER_IS_BETTER, NEUTRAL

CHART = "metrics_by_type.png"
RELIABILITY = "reliability.png"
CHART_METRICS = (
    ("behaviour_accuracy", "behaviour accuracy"),
    ("hit@5", "hit@5"),
    ("mrr", "MRR"),
    ("key_fact_recall", "key-fact recall"),
    ("citation_precision", "citation precision"),
    ("unsupported_sentence_rate", "unsupported-sentence rate (lower is better)"),
)
TYPE_TABLE_METRICS = (
    ("behaviour_accuracy", "behaviour accuracy"),
    ("hit@5", "hit@5"),
    ("mrr", "MRR"),
    ("key_fact_recall", "key-fact recall"),
    ("citation_precision", "citation precision"),
    ("unsupported_sentence_rate", "unsupported-sentence rate"),
    ("latency_p50_ms", "latency p50 (ms)"),
)
EXCERPT = 300

DEFINITIONS = f"""\
- **Retrieval** (questions with gold sources): a gold quote is found in a passage when its
  normalised text occurs there (or an in-order run of at least 80 % of its tokens does), never
  by document id. Ranking: the answer's retrieval trace in order, completed to 10 passages by a
  wider search for the question (passages already in the trace skipped); the baseline's
  ranking is its top-4, completed the same way by a k=10 similarity search.
  **hit@k**: 1 when some gold quote is in the top k; **recall@k**: share of the item's gold
  quotes in the top k; **MRR**: 1 / rank of the first passage holding a gold quote (0 if none
  in the 10).
- **Key-fact recall** (questions expecting an answer, whatever the behaviour): share of key
  facts found in the answer (normalised substring; `|` separates alternatives; numbers never
  match inside longer numbers).
- The next four only for answers given (behaviour `answered`) to questions expecting one. A
  sentence is **supported** by a passage when at least {SUPPORT_SHARE:.0%} of its content
  tokens (normalised words and numbers, stop words and markers removed) occur in it.
  **Citation precision**: share of cited passages that hold a gold quote or support an answer
  sentence citing them. **Unsupported-sentence rate**: share of answer sentences without a
  citation or not supported by any passage they cite. **Unsupported numbers**: numbers of the
  answer found in no cited passage (summed over questions). **Answer length**: characters of
  the answer text, markers included.
- **Behaviour accuracy**: expected answer/abstain/decline vs got answered/abstained/declined.
- **ECE** (expected calibration error): answered questions expecting an answer, confidence
  in 10 equal-width bins; the sum over bins of the bin's share of answers x |share with every
  key fact − mean confidence|. 0 is perfect calibration.
- **Latency**: per-question `timings.total` of the answer (the pipeline's own measure; the
  client's wall clock when absent), p50/p95 with linear interpolation; per step likewise.
- Means are over the questions where a metric applies; `n/a` where none does.
"""


# --- formatting ---------------------------------------------------------------------------


def fmt(value: Any, key: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if key.endswith("_ms") or key == "answer_chars_mean":
        return f"{value:.1f}"
    if isinstance(value, int) or key == "unsupported_numbers":
        return str(int(value))
    return f"{value:.3f}"


def fmt_diff(ours: Any, base: Any, key: str) -> str:
    if ours is None or base is None:
        return "n/a"
    diff = ours - base
    text = fmt(abs(diff), key)
    if float(text.replace(",", "")) == 0:
        return "0" if key == "unsupported_numbers" else "±" + text
    sign = "+" if diff > 0 else "−"
    if key in NEUTRAL:
        return f"{sign}{text}"
    better = (diff < 0) if key in LOWER_IS_BETTER else (diff > 0)
    return f"{sign}{text} {'✓' if better else '✗'}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """The lines of a Markdown table (cells as `str` gives them); also used by bench/report."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|") or "(empty)"


# --- chart --------------------------------------------------------------------------------


def write_chart(results: dict[str, Any], path: Path) -> None:
    """Bars per question type (plus 'all'), ours vs baseline, one panel per metric."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = results["metrics"]
    base = results.get("baseline")
    groups = ["all", *ours["per_type"]]

    def values(metrics: dict[str, Any] | None, key: str) -> list[float]:
        if metrics is None:
            return []
        out = []
        for group in groups:
            source = metrics if group == "all" else metrics["per_type"].get(group, {})
            value = source.get(key)
            out.append(float("nan") if value is None else float(value))
        return out

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), sharey=True)
    width = 0.4 if base is not None else 0.7
    xs = list(range(len(groups)))
    for ax, (key, title) in zip(axes.flat, CHART_METRICS, strict=True):
        ours_values = values(ours, key)
        bars = []
        if base is not None:
            left = [x - width / 2 for x in xs]
            right = [x + width / 2 for x in xs]
            bars.append(ax.bar(left, ours_values, width, label="ours", color="#1f5fa8"))
            bars.append(ax.bar(right, values(base, key), width, label="baseline", color="#e08a2c"))
        else:
            bars.append(ax.bar(xs, ours_values, width, label="ours", color="#1f5fa8"))
        for container in bars:
            heights = [b.get_height() for b in container]
            labels = ["" if math.isnan(h) else f"{h:.2f}" for h in heights]
            ax.bar_label(container, labels=labels, fontsize=6, padding=1)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(xs)
        ax.set_xticklabels(
            [g.replace("_", " ") for g in groups], rotation=40, ha="right", fontsize=8
        )
        ax.set_ylim(0, 1.1)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=9)
    label = "ours vs naive LangChain baseline" if base is not None else "ours"
    fig.suptitle(f"Metrics per question type ({label}); n/a types have no bar", fontsize=12)
    fig.tight_layout(rect=(0, 0, 0.94, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- report -------------------------------------------------------------------------------


def _overall(ours: dict[str, Any], base: dict[str, Any] | None) -> list[str]:
    keys = [*HEADLINE[:4], *(f"recall@{k}" for k in KS), *HEADLINE[5:]]
    keys = list(dict.fromkeys(keys))
    if base is None:
        return markdown_table(["metric", "ours"], [[f"`{k}`", fmt(ours.get(k), k)] for k in keys])
    rows = [
        [f"`{k}`", fmt(ours.get(k), k), fmt(base.get(k), k), fmt_diff(ours.get(k), base.get(k), k)]
        for k in keys
    ]
    return markdown_table(["metric", "ours", "baseline", "difference (ours − baseline)"], rows)


def _per_type(ours: dict[str, Any], base: dict[str, Any] | None) -> list[str]:
    types = list(ours["per_type"])
    out: list[str] = []
    if base is None:
        header = ["type", "n", *(label for _, label in TYPE_TABLE_METRICS)]
        rows = []
        for t in types:
            data = ours["per_type"][t]
            rows.append(
                [t, str(data["questions"]), *(fmt(data.get(k), k) for k, _ in TYPE_TABLE_METRICS)]
            )
        return markdown_table(header, rows)
    for key, label in TYPE_TABLE_METRICS:
        out.append(f"**{label}**")
        out.append("")
        rows = []
        for t in ["all", *types]:
            o = ours if t == "all" else ours["per_type"][t]
            b = base if t == "all" else base["per_type"].get(t, {})
            rows.append(
                [
                    t,
                    str(o["questions"]),
                    fmt(o.get(key), key),
                    fmt(b.get(key), key),
                    fmt_diff(o.get(key), b.get(key), key),
                ]
            )
        out += markdown_table(["type", "n", "ours", "baseline", "difference"], rows)
        out.append("")
    return out


def _calibration(results: dict[str, Any]) -> list[str]:
    pairs = calibration_pairs([r["metrics"] for r in results["questions"]])
    error = results["metrics"].get("ece")
    return [
        "## Calibration",
        "",
        f"Expected calibration error {fmt(error, 'ece')} over {len(pairs)} answered questions "
        "expecting an answer (confidence vs every key fact in the answer, 10 bins; 0 is "
        "perfect, see `python -m evals calibrate`).",
        "",
        f"![Reliability plot: share correct vs confidence]({RELIABILITY})",
        "",
    ]


def _confusion(metrics: dict[str, Any]) -> list[str]:
    matrix = metrics["confusion_matrix"]
    got = list(next(iter(matrix.values())).keys())
    rows = [[f"**{e}**", *(str(matrix[e].get(g, 0)) for g in got)] for e in matrix]
    return markdown_table(["expected \\ got", *got], rows)


def _latency(metrics: dict[str, Any]) -> list[str]:
    steps = metrics.get("latency_steps_ms") or {}
    order = sorted(steps, key=lambda s: (s == "total", 0))
    rows = [
        [
            s,
            fmt(steps[s]["p50"], "_ms"),
            fmt(steps[s]["p95"], "_ms"),
            fmt(steps[s]["mean"], "_ms"),
            str(steps[s]["n"]),
        ]
        for s in order
    ]
    return markdown_table(["step", "p50", "p95", "mean", "questions"], rows)


def failures(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Questions with the wrong behaviour, or expecting an answer that missed a key fact."""
    out = []
    for r in records:
        row = r["metrics"]
        recall = row.get("key_fact_recall")
        if not row["behaviour_correct"] or (recall is not None and recall < 1.0):
            out.append(r)
    return out


def _failure_lines(records: Sequence[dict[str, Any]], with_baseline: bool) -> list[str]:
    failed = failures(records)
    out = [f"## Failures ({len(failed)} of {len(records)})", ""]
    if not failed:
        return [*out, "None.", ""]
    out += [
        "Wrong behaviour, or an expected answer missing a key fact. Expected vs what came back:",
        "",
    ]
    for r in failed:
        row = r["metrics"]
        out.append(f"### `{r['id']}` ({r['type']})")
        out.append("")
        out.append(f"- **Question:** {_excerpt(r['question'], 500)}")
        expected = f"- **Expected:** {r['expected_behaviour']}"
        if r.get("key_facts"):
            facts = ", ".join(f"`{f}`" for f in r["key_facts"])
            expected += f"; key facts: {facts}"
        out.append(expected)
        got = f"- **Got:** {r['behaviour']}"
        if row.get("key_fact_recall") is not None:
            got += f" (key-fact recall {row['key_fact_recall']:.2f}"
            missing = row.get("missing_key_facts") or []
            got += f"; missing: {', '.join(f'`{f}`' for f in missing)})" if missing else ")"
        if row.get("hit@5") is not None:
            got += f"; gold passage ranks: {row.get('gold_ranks') or 'none in top 10'}"
        out.append(got)
        if r.get("reason"):
            out.append(f"- **Reason given:** {_excerpt(r['reason'], 200)}")
        out.append(f"- **Answer:** {_excerpt(r['answer'])}")
        if with_baseline and "baseline" in r:
            b = r["baseline"]
            brow = b["metrics"]
            note = f"- **Baseline:** {b['behaviour']}"
            if brow.get("key_fact_recall") is not None:
                note += f", key-fact recall {brow['key_fact_recall']:.2f}"
            note += f" — {_excerpt(b['answer'], 160)}"
            out.append(note)
        out.append("")
    return out


def render_report(results: dict[str, Any], chart: str = CHART) -> str:
    from evals.languages import render_languages  # it formats with this module's helpers

    ours = results["metrics"]
    base = results.get("baseline")
    run = results.get("run", {})
    target = run.get("target", {})
    lines = ["# Evaluation report", ""]
    facts = [
        f"- Dataset: `{run.get('dataset', '?')}` ({ours['questions']} questions; "
        f"{ours['answer_expected']} expecting an answer, {ours['with_sources']} with gold "
        "sources)",
        "- Assistant: "
        + ", ".join(
            f"{k} `{v}`" for k, v in target.items() if v not in (None, "") and k != "versions"
        ),
    ]
    versions = target.get("versions") or {}
    if versions:
        shown = {k: (v[:12] if k.endswith("hash") else v) for k, v in versions.items()}
        facts.append("- Versions: " + ", ".join(f"{k} `{v}`" for k, v in shown.items()))
    if base is not None:
        info = run.get("baseline", {})
        facts.append(
            "- Baseline: naive LangChain RAG — "
            + ", ".join(f"{k} `{v}`" for k, v in info.items() if k != "mode")
        )
    if run.get("started"):
        facts.append(f"- Run: {run['started']} ({run.get('seconds', '?')} s)")
    if run.get("command"):
        facts.append(f"- Command: `{run['command']}`")
    if ours.get("llm_fallbacks"):
        facts.append(
            f"- **Note:** {ours['llm_fallbacks']} answer(s) fell back to the extractive "
            "composer (the language model failed or its draft was unsupported)"
        )
    for warning in run.get("warnings", []):
        facts.append(f"- **Warning:** {warning}")
    lines += [*facts, ""]
    lines += ["## Overall", ""]
    lines += _overall(ours, base)
    lines += [
        "",
        "Fractions are in 0..1; ✓ marks a difference in our favour. "
        "`unsupported_numbers` is a count summed over the questions.",
        "",
    ]
    lines += ["## Per question type", ""]
    lines += _per_type(ours, base)
    lines += ["", f"![Metrics per question type, ours vs baseline]({chart})", ""]
    lines += _calibration(results)
    lines += render_languages(results)
    lines += ["## Behaviour (confusion matrix)", "", "Ours:", ""]
    lines += _confusion(ours)
    if base is not None:
        lines += ["", "Baseline (always answers):", ""]
        lines += _confusion(base)
    lines += ["", "## Latency per pipeline step (ms)", "", "Ours:", ""]
    lines += _latency(ours)
    if base is not None:
        lines += ["", "Baseline:", ""]
        lines += _latency(base)
    lines += [""]
    lines += _failure_lines(results["questions"], base is not None)
    lines += ["## Metric definitions", "", DEFINITIONS]
    return "\n".join(lines).rstrip() + "\n"


def write_outputs(results: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """results.json, report.md and the charts in `out_dir` (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": out_dir / "results.json",
        "report": out_dir / "report.md",
        "chart": out_dir / CHART,
        "reliability": out_dir / RELIABILITY,
    }
    paths["results"].write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    write_chart(results, paths["chart"])
    pairs = calibration_pairs([r["metrics"] for r in results["questions"]])
    dataset = Path(str(results.get("run", {}).get("dataset", "run"))).name
    write_reliability_plot({"confidence": pairs}, paths["reliability"], f"Reliability: {dataset}")
    paths["report"].write_text(render_report(results, CHART), encoding="utf-8")
    return paths
