"""Evaluation metrics: pure functions over texts, so each is tested on hand-built examples.

Definitions (the README and the report repeat them):

- Retrieval, for questions with gold sources. The ranking is a list of passage texts, best
  first. A gold quote is *found* at rank r when `quote_in_passage(quote, passage r)` holds: by
  text, never by document id, because other teams' question sets name documents by file names
  this corpus has never seen.
  - hit@k: 1 when at least one gold quote is found in the top k passages, else 0.
  - recall@k: the share of the item's gold quotes found in the top k passages.
  - MRR: 1 / rank of the first passage that holds any gold quote; 0 when none does.
- Answer, for questions expecting an answer:
  - key-fact recall: the share of key facts present in the answer (`|` separates accepted
    alternatives; citation markers are removed first); counted whatever the behaviour, so an
    abstention on an answerable question scores 0.
  - the following only for answers actually given (behaviour `answered`). An answer sentence
    is *supported* by a passage when at least `SUPPORT_SHARE` of the sentence's content tokens
    (normalised words and numbers, stop words and markers removed, plural -s folded) occur in
    the passage.
  - citation precision: the share of cited passages that hold a gold quote or support at
    least one answer sentence that cites them.
  - unsupported-sentence rate: the share of answer sentences that cite no passage, or none of
    whose cited passages supports them.
  - unsupported numbers: how many numbers of the answer (`rag.figures.numbers_in`, markers
    removed) occur in no cited passage.
  - answer length: characters of the answer text as returned (markers included).
- Behaviour: expected `answer`/`abstain`/`decline` against got `answered`/`abstained`/
  `declined`; accuracy is the share that match; the confusion matrix counts every pair.
- Calibration (evals/calibration.py): expected calibration error (`ece`, 10 equal-width bins)
  of the confidence of answered questions expecting an answer, against all key facts present.
- Latency: p50 and p95 (linear interpolation between order statistics) of the per-question
  total, and of each pipeline step's time where the step ran.

Aggregates are means over the questions where a metric is defined (None elsewhere), except
`unsupported_numbers`, which is summed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from evals.calibration import calibration_pairs, ece
from evals.normalise import key_fact_present, quote_in_passage, tokens
from rag.figures import numbers_in
from rag.verify import split_answer

__all__ = [
    "EXPECTED_TO_GOT",
    "KS",
    "SUPPORT_SHARE",
    "AnswerScores",
    "aggregate",
    "answer_scores",
    "answer_sentences",
    "behaviour_correct",
    "confusion_matrix",
    "content_tokens",
    "key_fact_recall",
    "latency_summary",
    "percentile",
    "retrieval_scores",
    "strip_markers",
    "supports",
    "unsupported_numbers",
]

KS: tuple[int, ...] = (1, 3, 5, 10)
SUPPORT_SHARE = 0.6
EXPECTED_TO_GOT = {"answer": "answered", "abstain": "abstained", "decline": "declined"}

_MARKER = re.compile(r"\[(\d+)\]")
_AFTER_MARKERS = re.compile(r"(?<=\][.:;!?])\s+")
_MARKER_WITH_SPACE = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")
_STOPWORDS = frozenset(
    """a an and are as at be been being but by can could did do does for from had has have he
    her his i if in into is it its itself may might must not of on or our shall she should so
    such than that the their them then there these they this those to under upon was we were
    what when where which while who whom why will with would you your also both each either
    other own same very""".split()  # noqa: SIM905
)


# --- retrieval ----------------------------------------------------------------------------


def retrieval_scores(
    passages: Sequence[str], quotes: Sequence[str], ks: Iterable[int] = KS
) -> dict[str, float]:
    """hit@k and recall@k for each k, and MRR, of one ranking against one item's gold quotes.

    `passages` are the ranked passage texts, best first; `quotes` must not be empty.
    """
    if not quotes:
        raise ValueError("retrieval metrics need at least one gold quote")
    # rank (1-based) of the first passage holding each quote; None when no passage does
    first_rank: list[int | None] = []
    for quote in quotes:
        rank = next((r for r, p in enumerate(passages, 1) if quote_in_passage(quote, p)), None)
        first_rank.append(rank)
    out: dict[str, float] = {}
    for k in ks:
        found = [r is not None and r <= k for r in first_rank]
        out[f"hit@{k}"] = 1.0 if any(found) else 0.0
        out[f"recall@{k}"] = sum(found) / len(quotes)
    ranks = [r for r in first_rank if r is not None]
    out["mrr"] = 1.0 / min(ranks) if ranks else 0.0
    return out


# --- answers ------------------------------------------------------------------------------


def strip_markers(text: str) -> str:
    """The answer without its [n] citation markers."""
    return _MARKER_WITH_SPACE.sub("", text)


def content_tokens(text: str) -> set[str]:
    """Normalised word and number tokens without stop words; plural -s folded."""
    out = set()
    for token in tokens(strip_markers(text)):
        if token in _STOPWORDS or (len(token) == 1 and not token.isdigit()):
            continue
        if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
            token = token[:-1]
        out.add(token)
    return out


def supports(sentence: str, passage: str, share: float = SUPPORT_SHARE) -> bool:
    """Whether `passage` holds at least `share` of the sentence's content tokens."""
    wanted = content_tokens(sentence)
    if not wanted:
        return False
    return len(wanted & content_tokens(passage)) / len(wanted) >= share


def answer_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, its citation markers) for each sentence of the answer.

    Sentences are split as the pipeline's verifier splits them (bullets are sentences too);
    pieces without a word character (a stray marker) are dropped.
    """
    out = []
    for sentence in split_answer(answer):
        body = sentence[2:] if sentence.startswith("- ") else sentence
        # Markers close a sentence: "... as follows [2]: Overall, ..." is two sentences even
        # though the text splitter does not break at a colon.
        for piece in _AFTER_MARKERS.split(body):
            markers = [int(m) for m in _MARKER.findall(piece)]
            plain = strip_markers(piece).strip()
            if re.search(r"\w", plain):
                out.append((plain, list(dict.fromkeys(markers))))
    return out


def key_fact_recall(key_facts: Sequence[str], answer: str) -> float | None:
    """Share of key facts present in the answer; None when the item has none."""
    if not key_facts:
        return None
    text = strip_markers(answer)
    return sum(key_fact_present(fact, text) for fact in key_facts) / len(key_facts)


def unsupported_numbers(answer: str, cited_passages: Iterable[str]) -> list[str]:
    """Numbers of the answer that occur in none of the cited passages."""
    available: set[str] = set()
    for passage in cited_passages:
        for number in numbers_in(passage):
            available.update({number, number.replace(",", "."), number.replace(".", ",")})
    return [n for n in numbers_in(strip_markers(answer)) if n not in available]


@dataclass
class AnswerScores:
    citation_precision: float | None
    unsupported_sentence_rate: float | None
    sentences: int
    unsupported_sentences: int
    unsupported_numbers: int
    unsupported_number_values: list[str]
    cited_passages: int
    precise_citations: int


def answer_scores(
    answer: str, citations: Mapping[int, str], gold_quotes: Sequence[str]
) -> AnswerScores:
    """Citation and support scores of one given answer.

    `citations` maps each marker n of the answer to the text of the passage it cites.
    Citation precision is None when nothing is cited; the unsupported-sentence rate is None
    when the answer has no sentence.
    """
    sentences = answer_sentences(answer)
    unsupported = 0
    supported_markers: set[int] = set()
    for sentence, markers in sentences:
        backing = [m for m in markers if m in citations and supports(sentence, citations[m])]
        supported_markers.update(backing)
        if not backing:
            unsupported += 1
    precise = 0
    for marker, passage in citations.items():
        holds_gold = any(quote_in_passage(q, passage) for q in gold_quotes)
        if holds_gold or marker in supported_markers:
            precise += 1
    missing = unsupported_numbers(answer, citations.values())
    return AnswerScores(
        citation_precision=precise / len(citations) if citations else None,
        unsupported_sentence_rate=unsupported / len(sentences) if sentences else None,
        sentences=len(sentences),
        unsupported_sentences=unsupported,
        unsupported_numbers=len(missing),
        unsupported_number_values=missing,
        cited_passages=len(citations),
        precise_citations=precise,
    )


# --- behaviour ----------------------------------------------------------------------------


def behaviour_correct(expected: str, got: str) -> bool:
    """Expected `answer`/`abstain`/`decline` against `answered`/`abstained`/`declined`."""
    return EXPECTED_TO_GOT.get(expected) == got


def confusion_matrix(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """expected -> got -> count, with every expected behaviour and every outcome as keys."""
    pairs = list(pairs)
    got_values = list(EXPECTED_TO_GOT.values())
    got_values += sorted({g for _, g in pairs} - set(got_values))  # e.g. "error"
    matrix = {e: dict.fromkeys(got_values, 0) for e in EXPECTED_TO_GOT}
    for expected, got in pairs:
        matrix.setdefault(expected, dict.fromkeys(got_values, 0))[got] += 1
    return matrix


# --- latency ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear interpolation between order statistics."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_summary(timings: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float | None]]:
    """step -> {p50, p95, mean, n} over the questions where the step ran ('total' included)."""
    steps: dict[str, list[float]] = {}
    for per_question in timings:
        for step, ms in per_question.items():
            steps.setdefault(step, []).append(float(ms))
    return {
        step: {
            "p50": _round(percentile(values, 50)),
            "p95": _round(percentile(values, 95)),
            "mean": _round(sum(values) / len(values)),
            "n": len(values),
        }
        for step, values in steps.items()
    }


# --- aggregation --------------------------------------------------------------------------

MEANS = (
    *(f"hit@{k}" for k in KS),
    *(f"recall@{k}" for k in KS),
    "mrr",
    "key_fact_recall",
    "citation_precision",
    "unsupported_sentence_rate",
    # evals/ceilings.py: answerable questions with every key fact in the answer, in the top-5
    # passages (retrieval ceiling), in one or two of their sentences (composition ceiling)
    "all_key_facts",
    "retrieval_ceiling",
    "composition_ceiling",
    "first_sentence_fact",
    "wrong_abstention",
)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def aggregate(rows: Sequence[Mapping[str, object]]) -> dict[str, object]:
    """Run-level metrics from per-question metric rows.

    Each row holds the per-question metrics (None where not defined) plus `expected`,
    `behaviour`, `latency_ms` and `answer_chars` (None unless an expected answer was given).
    """
    out: dict[str, object] = {"questions": len(rows)}
    for key in MEANS:
        out[key] = _round(_mean(row.get(key) for row in rows))  # type: ignore[misc]
    out["unsupported_numbers"] = sum(
        int(row["unsupported_numbers"])  # type: ignore[call-overload]
        for row in rows
        if row.get("unsupported_numbers") is not None
    )
    pairs = [(str(row["expected"]), str(row["behaviour"])) for row in rows]
    out["behaviour_accuracy"] = (
        _round(sum(behaviour_correct(e, g) for e, g in pairs) / len(pairs)) if pairs else None
    )
    out["ece"] = _round(ece(calibration_pairs(rows)))
    out["answer_chars_mean"] = _round(_mean(row.get("answer_chars") for row in rows), 1)  # type: ignore[misc]
    latencies = [float(row["latency_ms"]) for row in rows if row.get("latency_ms") is not None]  # type: ignore[arg-type]
    out["latency_p50_ms"] = _round(percentile(latencies, 50), 2)
    out["latency_p95_ms"] = _round(percentile(latencies, 95), 2)
    out["with_sources"] = sum(1 for row in rows if row.get("mrr") is not None)
    out["answer_expected"] = sum(1 for row in rows if row["expected"] == "answer")
    out["answered_when_expected"] = sum(
        1 for row in rows if row["expected"] == "answer" and row["behaviour"] == "answered"
    )
    out["llm_fallbacks"] = sum(1 for row in rows if row.get("fallback"))
    out["confusion_matrix"] = confusion_matrix(pairs)
    return out
