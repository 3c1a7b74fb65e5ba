"""`python -m evals informs [--label after] [--topics FILE] [--out DIR]`: inform drafts on a
topic set (evals/datasets/inform-topics.json), in process on the configured index.

Per topic: sections filled (of 4), distinct documents cited, sentences, sentences the voice
rules flag (rag/brief_voice.flags: a dangling opener, a reference to the source's structure,
a colon ending, a pointer such as "available here", a lower-case start, a heading) and
markers that do not resolve to a citation. Dev and held-out topics are reported separately:
the dev topics were looked at while developing, the held-out ones were not.

Each run writes DIR/results-<label>.json; DIR/report.md puts every label found side by side.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.brief_voice import flags

TOPICS = Path(__file__).parent / "datasets" / "inform-topics.json"
DEFAULT_OUT = Path(__file__).parent / "reports" / "informs"
SETS = ("dev", "held_out", "off_corpus")


@dataclass
class TopicResult:
    topic: str
    set: str
    filled: int
    sections: int
    documents: int
    sentences: int
    flagged: int
    unresolved: int
    seconds: float
    flags: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)


def _sentences(section_text: str) -> list[str]:
    from rag.verify import split_answer

    return [s for s in split_answer(section_text) if re.search(r"\w", s)]


def measure(draft: dict[str, Any], topic: str, set_: str, seconds: float) -> TopicResult:
    """The figures of one draft (the /v1/inform JSON)."""
    markers = {c["marker"] for c in draft["citations"]}
    result = TopicResult(
        topic=topic,
        set=set_,
        filled=sum(1 for s in draft["sections"] if s["text"].strip()),
        sections=len(draft["sections"]),
        documents=len({c["doc_id"] for c in draft["citations"]}),
        sentences=0,
        flagged=0,
        unresolved=0,
        seconds=round(seconds, 2),
    )
    for section in draft["sections"]:
        for sentence in _sentences(section["text"]):
            result.sentences += 1
            found = flags(sentence)
            if found:
                result.flagged += 1
                if len(result.examples) < 3:
                    result.examples.append(f"{', '.join(found)}: {sentence[:100]}")
            for name in found:
                result.flags[name] = result.flags.get(name, 0) + 1
            used = {int(n) for n in re.findall(r"\[(\d+)\]", sentence)}
            result.unresolved += len(used - markers)
    return result


def run(label: str, topics_file: Path = TOPICS, out: Path = DEFAULT_OUT) -> Path:
    from common.settings import load_settings
    from rag.inform import draft_inform
    from rag.pipeline import Assistant

    topics = json.loads(topics_file.read_text(encoding="utf-8"))
    assistant = Assistant(load_settings().model_copy(update={"composer": "extractive"}))
    assistant.warm_up()
    results: list[TopicResult] = []
    for set_ in SETS:
        for topic in topics.get(set_, []):
            started = time.perf_counter()
            draft = draft_inform(assistant, topic).model_dump(mode="json")
            results.append(measure(draft, topic, set_, time.perf_counter() - started))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"results-{label}.json").write_text(
        json.dumps([asdict(r) for r in results], indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    report = out / "report.md"
    report.write_text(render(out), encoding="utf-8")
    return report


def _summary(rows: list[dict[str, Any]]) -> str:
    n = len(rows) or 1
    return (
        f"{sum(r['filled'] for r in rows) / n:.2f} sections of 4, "
        f"{sum(r['documents'] for r in rows) / n:.2f} documents, "
        f"{sum(r['flagged'] for r in rows)} of {sum(r['sentences'] for r in rows)} sentences "
        f"flagged, {sum(r['unresolved'] for r in rows)} unresolved markers"
    )


def render(out: Path) -> str:
    """report.md from every results-<label>.json in `out` (before first, then by name)."""
    runs = {
        p.stem.removeprefix("results-"): json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(out.glob("results-*.json"), key=lambda p: (p.stem != "results-before", p))
    }
    lines = [
        "# Inform drafts: coverage, sources and voice",
        "",
        "`python -m evals informs --label <label>` (evals/informs.py) on the topics of "
        "evals/datasets/inform-topics.json, extractive composer, default corpus. Per topic: "
        "sections filled (of 4) / distinct documents cited / sentences flagged by the voice "
        "rules (of all sentences). Off-corpus topics should fill nothing.",
        "",
    ]
    for set_ in SETS:
        lines += [f"## {set_.replace('_', '-')} topics", ""]
        labels = list(runs)
        lines.append("| topic | " + " | ".join(labels) + " |")
        lines.append("|---" * (len(labels) + 1) + "|")
        in_set = [r["topic"] for rows in runs.values() for r in rows if r["set"] == set_]
        topics = list(dict.fromkeys(in_set))
        for topic in topics:
            cells = []
            for label in labels:
                row = next((r for r in runs[label] if r["topic"] == topic), None)
                cells.append(
                    f"{row['filled']} / {row['documents']} / {row['flagged']} of {row['sentences']}"
                    if row
                    else "-"
                )
            lines.append(f"| {topic} | " + " | ".join(cells) + " |")
        lines.append("")
        for label in labels:
            rows = [r for r in runs[label] if r["set"] == set_]
            lines.append(f"- **{label}**: {_summary(rows)}")
        lines.append("")
    lines += ["## Flagged sentences (first examples per topic)", ""]
    for label, rows in runs.items():
        examples = [f"  - {r['topic']}: {e}" for r in rows for e in r["examples"]]
        lines.append(f"- **{label}**: {len(examples)} shown" + (":" if examples else ""))
        lines += examples
    lines.append("")
    return "\n".join(lines)
