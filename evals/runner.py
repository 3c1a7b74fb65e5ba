"""One evaluation run: ask every question of a set, score each reply, aggregate, per type too.

`run_target` is independent of how answering works: it only reads the `Answer` contract
(through `Reply`) and passage texts, so the pipeline can be tuned without touching it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from evals import ceilings
from evals import metrics as m
from evals.dataset import ITEM_TYPES, Item
from evals.normalise import key_fact_present, quote_in_passage
from evals.targets import Passage, Reply, Target

# Metrics shown first and compared with the baseline (the gate checks those in floors.toml).
HEADLINE = (
    "hit@1",
    "hit@3",
    "hit@5",
    "hit@10",
    "recall@5",
    "mrr",
    "key_fact_recall",
    "all_key_facts",
    "retrieval_ceiling",
    "composition_ceiling",
    "first_sentence_fact",
    "wrong_abstention",
    "citation_precision",
    "unsupported_sentence_rate",
    "unsupported_numbers",
    "behaviour_accuracy",
    "ece",
    "answer_chars_mean",
    "latency_p50_ms",
    "latency_p95_ms",
)
# Neither better nor worse when higher.
NEUTRAL = frozenset({"answer_chars_mean"})
# Lower is better for these.
LOWER_IS_BETTER = frozenset(
    {
        "unsupported_sentence_rate",
        "unsupported_numbers",
        "wrong_abstention",
        "ece",
        "latency_p50_ms",
        "latency_p95_ms",
    }
)


def score_question(item: Item, reply: Reply, ranking: Sequence[Passage]) -> dict[str, Any]:
    """Per-question metrics: None where a metric does not apply to the item or reply."""
    row: dict[str, Any] = {
        "expected": item.expected_behaviour,
        "behaviour": reply.behaviour,
        "behaviour_correct": m.behaviour_correct(item.expected_behaviour, reply.behaviour),
        "latency_ms": round(reply.latency_ms, 2),
        "fallback": reply.fallback,
        "confidence": reply.confidence,  # for the expected calibration error (ece)
    }
    quotes = [s.quote for s in item.sources]
    texts = [p.text or "" for p in ranking]
    if quotes:
        row.update(m.retrieval_scores(texts, quotes))
        found = [
            rank
            for rank, p in enumerate(ranking, 1)
            if p.text and any(quote_in_passage(q, p.text) for q in quotes)
        ]
        row["gold_ranks"] = found
    else:
        row.update({f"hit@{k}": None for k in m.KS})
        row.update({f"recall@{k}": None for k in m.KS})
        row["mrr"] = None
    row["key_fact_recall"] = None
    row["citation_precision"] = None
    row["unsupported_sentence_rate"] = None
    row["unsupported_numbers"] = None
    row["answer_chars"] = None
    if item.expected_behaviour == "answer":
        recall = m.key_fact_recall(item.key_facts, reply.answer)
        row["key_fact_recall"] = recall
        if recall is not None:
            plain = m.strip_markers(reply.answer)
            row["missing_key_facts"] = [f for f in item.key_facts if not key_fact_present(f, plain)]
        row.update(_ceiling_scores(item, reply, quotes, texts, recall))
        if reply.behaviour == "answered":
            cited = {int(c["marker"]): str(c.get("quote") or "") for c in reply.citations}
            scores = m.answer_scores(reply.answer, cited, quotes)
            row["citation_precision"] = scores.citation_precision
            row["unsupported_sentence_rate"] = scores.unsupported_sentence_rate
            row["unsupported_numbers"] = scores.unsupported_numbers
            row["unsupported_number_values"] = scores.unsupported_number_values
            row["sentences"] = scores.sentences
            row["unsupported_sentences"] = scores.unsupported_sentences
            row["answer_chars"] = len(reply.answer)
    return row


def _ceiling_scores(item: Item, reply: Reply, quotes: Sequence[str], passages: Sequence[str],
                    recall: float | None) -> dict[str, Any]:  # fmt: skip
    """Where an answerable question's key facts were lost (see evals/ceilings.py)."""
    row: dict[str, Any] = {
        "wrong_abstention": 1.0
        if ceilings.wrong_abstention(reply.behaviour, quotes, passages)
        else 0.0
    }
    if recall is None:  # no key facts: nothing to look for
        return row
    facts = item.key_facts
    row["all_key_facts"] = 1.0 if recall >= 1.0 else 0.0
    row["retrieval_ceiling"] = 1.0 if ceilings.retrieval_ceiling(facts, passages) else 0.0
    row["composition_ceiling"] = 1.0 if ceilings.composition_ceiling(facts, passages) else 0.0
    if item.type == "factoid" and reply.behaviour == "answered":
        row["first_sentence_fact"] = (
            1.0 if ceilings.first_sentence_has_fact(facts, m.strip_markers(reply.answer)) else 0.0
        )
    return row


def summarise(
    rows: Sequence[dict[str, Any]], types: Sequence[str], timings: Sequence[dict[str, float]]
) -> dict[str, Any]:
    """Run-level metrics, the per-type breakdown and the latency per pipeline step."""
    overall = m.aggregate(rows)
    overall["latency_steps_ms"] = m.latency_summary(timings)
    per_type: dict[str, Any] = {}
    for kind in [t for t in ITEM_TYPES if t in types] + sorted(set(types) - set(ITEM_TYPES)):
        subset = [r for r, t in zip(rows, types, strict=True) if t == kind]
        if subset:
            per_type[kind] = m.aggregate(subset)
    overall["per_type"] = per_type
    return overall


def _record(item: Item, reply: Reply, ranking: Sequence[Passage]) -> dict[str, Any]:
    return {
        "id": item.id,
        "type": item.type,
        "question": item.question,
        "language": item.language,
        "detected_language": reply.language,
        "translation_of": item.translation_of,
        "expected_behaviour": item.expected_behaviour,
        "key_facts": list(item.key_facts),
        "answer": reply.answer,
        "behaviour": reply.behaviour,
        "reason": reply.reason,
        "confidence": reply.confidence,
        "citations": [_citation_record(c) for c in reply.citations],
        "metrics": score_question(item, reply, ranking),
        "timings": reply.timings,
        "wall_ms": reply.wall_ms,
        "retrieval": [{"chunk_id": p.chunk_id, "doc_id": p.doc_id} for p in ranking],
    }


def run_targets(
    targets: Sequence[Target], items: Sequence[Item], progress: bool = True
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Ask every item of every target; (metrics, per-question records) per target.

    Targets take turns question by question, so that when the machine is busier at some
    moment, every target's latency feels it alike.
    """
    records: list[list[dict[str, Any]]] = [[] for _ in targets]
    names = " + ".join(t.name for t in targets)
    bar = tqdm(
        items, desc=names, unit="q", disable=not progress, file=sys.stderr, dynamic_ncols=True
    )
    for item in bar:
        for target, out in zip(targets, records, strict=True):
            reply = target.ask(item)
            ranking = target.ranking(item, reply) if item.sources else []
            out.append(_record(item, reply, ranking))
    bar.close()
    results = []
    for out in records:
        metrics = summarise(
            [r["metrics"] for r in out],
            [r["type"] for r in out],
            [r["timings"] or {"total": r["wall_ms"]} for r in out],
        )
        results.append((metrics, out))
    return results


def run_target(
    target: Target, items: Sequence[Item], progress: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ask every item; return (metrics, per-question records)."""
    return run_targets([target], items, progress)[0]


QUOTE_EXCERPT = 240


def _citation_record(citation: dict[str, Any]) -> dict[str, Any]:
    """A citation as stored in results.json: the quote shortened (the full passage is in the
    index; results.json stays small enough to commit)."""
    quote = " ".join(str(citation.get("quote") or "").split())
    short = quote if len(quote) <= QUOTE_EXCERPT else quote[: QUOTE_EXCERPT - 1] + "…"
    return {**citation, "quote": short, "quote_chars": len(quote)}


_KEEP_FOR_BASELINE = ("answer", "behaviour", "citations", "metrics", "timings", "retrieval")


def build_results(
    metrics: dict[str, Any],
    records: list[dict[str, Any]],
    baseline: tuple[dict[str, Any], list[dict[str, Any]]] | None = None,
    run: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The results.json document: metrics, baseline (same keys), questions, run details."""
    results: dict[str, Any] = {"metrics": metrics}
    if baseline is not None:
        base_metrics, base_records = baseline
        results["baseline"] = base_metrics
        by_id = {r["id"]: r for r in base_records}
        for record in records:
            other = by_id.get(record["id"])
            if other is not None:
                record["baseline"] = {k: other[k] for k in _KEEP_FOR_BASELINE}
    results["questions"] = records
    results["run"] = run or {}
    return results
