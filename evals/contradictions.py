"""The contradiction sets: does verification remove sentences that contradict their source and
keep faithful paraphrases? `python -m evals contradictions [--set dev|blind|FILE]`.

Each pair is one JSON object per line: `id`, `doc_id`, `passage` (verbatim text of the
document), `sentence` (a claim about it, without a citation), `label` (`faithful` or
`contradiction`) and `kind` (`paraphrase`, `negation`, `antonym`, `comparative`, `quantifier`,
`number`, `date`). Each sentence is cited [1] against a candidate made of its passage (sentence
spans and vectors from the real embedding model) and goes through the real verifier, support
checks and contradiction check together: a contradiction is caught when the sentence is
removed, a paraphrase is kept when it survives.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.sentences import split_sentences
from common.settings import PROJECT_ROOT
from index.schema import Chunk, DocumentMeta
from rag.retrieval import Candidate
from rag.verify import Verifier

DATASETS = Path(__file__).parent / "datasets"
REPORTS = Path(__file__).parent / "reports" / "contradictions"
CATALOGS = (PROJECT_ROOT / "corpus", Path(__file__).parent / "corpus-extended")
KINDS = ("paraphrase", "negation", "antonym", "comparative", "quantifier", "number", "date")
REMOVED_TARGET = 0.90
KEPT_TARGET = 0.95


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^\S+$")
    doc_id: str = Field(min_length=1)
    passage: str = Field(min_length=1)
    sentence: str = Field(min_length=1)
    label: Literal["faithful", "contradiction"]
    kind: Literal[
        "paraphrase", "negation", "antonym", "comparative", "quantifier", "number", "date"
    ]


def set_path(name: str, datasets: Path = DATASETS) -> Path:
    """'dev' and 'blind' name <datasets>/contradictions-<name>.jsonl; anything else is a
    path."""
    if name in {"dev", "blind"}:
        return datasets / f"contradictions-{name}.jsonl"
    return Path(name)


def in_fold(pair_id: str, fold: str | None) -> bool:
    """Fold A holds the pairs whose id ends in an odd number, fold B the even ones (ids without
    a number are in neither); no fold: every pair. Rules are developed on one fold's failures
    and checked on the other, so that the other's figure is not tuned on."""
    if fold is None:
        return True
    number = re.search(r"(\d+)$", pair_id)
    return number is not None and int(number.group(1)) % 2 == (1 if fold == "A" else 0)


def load_pairs(path: Path) -> list[Pair]:
    """Every line validated; ValueError naming each bad line (and duplicate ids)."""
    pairs, errors, seen = [], [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            pair = Pair.model_validate_json(line)
        except ValidationError as exc:
            errors.append(f"{path.name}:{number}: {exc.errors()[0]['msg']}")
            continue
        if pair.id in seen:
            errors.append(f"{path.name}:{number}: duplicate id {pair.id}")
        seen.add(pair.id)
        pairs.append(pair)
    if errors:
        raise ValueError("\n".join(errors))
    return pairs


def documents() -> dict[str, Path]:
    """doc id -> file, from the default corpus's and the extended corpus's catalogs."""
    out = {}
    for folder in CATALOGS:
        catalog = folder / "catalog.json"
        if catalog.is_file():
            for entry in json.loads(catalog.read_text(encoding="utf-8"))["documents"]:
                out[entry["id"]] = folder / entry["file"]
    return out


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _plain(text: str) -> str:
    """Markdown emphasis and footnote marks dropped, as a reader copying the text sees it."""
    text = re.sub(r"<sup>[^<]*</sup>", "", text)
    return _squeeze(re.sub(r"\*+|</?b>", "", text))


def passage_problems(pairs: list[Pair], docs: dict[str, Path] | None = None) -> list[str]:
    """Pairs whose document is unknown or whose passage is not in it verbatim (whitespace,
    and markdown emphasis, aside)."""
    docs = documents() if docs is None else docs
    texts: dict[str, tuple[str, str]] = {}
    problems = []
    for pair in pairs:
        if pair.doc_id not in docs:
            problems.append(f"{pair.id}: unknown document {pair.doc_id}")
            continue
        if pair.doc_id not in texts:
            raw = docs[pair.doc_id].read_text(encoding="utf-8")
            texts[pair.doc_id] = (_squeeze(raw), _plain(raw))
        squeezed, plain = texts[pair.doc_id]
        if _squeeze(pair.passage) not in squeezed and _plain(pair.passage) not in plain:
            problems.append(f"{pair.id}: passage not found verbatim in {pair.doc_id}")
    return problems


def candidate(pair: Pair, embed: Callable[[list[str]], np.ndarray]) -> Candidate:
    """A retrieval candidate made of the passage, as ingestion would store it."""
    text = _plain(pair.passage)
    spans = split_sentences(text) or [(0, len(text))]
    vectors = embed([text[a:b] for a, b in spans])
    chunk = Chunk(
        id=f"pair-{pair.id}",
        doc=DocumentMeta(doc_id=pair.doc_id, title=pair.doc_id),
        ordinal=0,
        text=text,
    )
    return Candidate(chunk=chunk, sentence_spans=spans, sentence_vectors=vectors)


def cited(sentence: str) -> str:
    core = sentence.strip().rstrip(".!?;: ")
    return f"{core} [1]."


@dataclass
class Outcome:
    pair: Pair
    removed: bool
    reason: str

    @property
    def correct(self) -> bool:
        return self.removed == (self.pair.label == "contradiction")


def run_pairs(
    pairs: list[Pair], verifier: Verifier, embed: Callable[[list[str]], np.ndarray]
) -> list[Outcome]:
    out = []
    for pair in pairs:
        result = verifier.verify(cited(pair.sentence), [candidate(pair, embed)])
        reason = result.removed[0].reason if result.removed else ""
        out.append(Outcome(pair, result.kept == 0, reason))
    return out


def summarise(outcomes: list[Outcome]) -> dict:
    contra = [o for o in outcomes if o.pair.label == "contradiction"]
    faithful = [o for o in outcomes if o.pair.label == "faithful"]
    by_kind: dict[str, dict[str, float | int]] = {}
    for kind in KINDS[1:]:
        of_kind = [o for o in contra if o.pair.kind == kind]
        if of_kind:
            caught = sum(o.removed for o in of_kind)
            by_kind[kind] = {
                "pairs": len(of_kind),
                "removed": caught,
                "share": round(caught / len(of_kind), 4),
            }
    removed = sum(o.removed for o in contra)
    kept = sum(not o.removed for o in faithful)
    reasons = Counter(o.reason.split(" (")[0] for o in contra if o.removed)
    return {
        "pairs": len(outcomes),
        "contradictions": len(contra),
        "faithful": len(faithful),
        "removed_share": round(removed / len(contra), 4) if contra else None,
        "kept_share": round(kept / len(faithful), 4) if faithful else None,
        "targets": {"removed": REMOVED_TARGET, "kept": KEPT_TARGET},
        "by_kind": by_kind,
        "removed_by": dict(reasons.most_common()),
        "failures": [
            {
                "id": o.pair.id,
                "label": o.pair.label,
                "kind": o.pair.kind,
                "sentence": o.pair.sentence,
                "passage": o.pair.passage,
                "reason": o.reason,
            }
            for o in outcomes
            if not o.correct
        ],
    }


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def markdown(name: str, source: str, summary: dict) -> str:
    met = (summary["removed_share"] or 0) >= REMOVED_TARGET and (
        summary["kept_share"] or 0
    ) >= KEPT_TARGET
    lines = [
        f"# Contradiction set `{name}`",
        "",
        f"Set: `{source}`; {summary['pairs']} pairs ({summary['contradictions']} contradictions, "
        f"{summary['faithful']} faithful paraphrases), each sentence cited [1] against its "
        "passage and verified by the real verifier (support checks and contradiction check).",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| contradictions removed | {_share(summary['removed_share'])} | "
        f">= {100 * REMOVED_TARGET:.0f} % |",
        f"| faithful paraphrases kept | {_share(summary['kept_share'])} | "
        f">= {100 * KEPT_TARGET:.0f} % |",
        "",
        f"Targets {'met' if met else 'NOT met'}.",
        "",
        "## Contradictions removed, by kind",
        "",
        "| kind | pairs | removed | share |",
        "|---|---|---|---|",
        *(
            f"| {k} | {v['pairs']} | {v['removed']} | {_share(v['share'])} |"
            for k, v in summary["by_kind"].items()
        ),
        "",
        "## What removed them",
        "",
        *(f"- {reason}: {n}" for reason, n in summary["removed_by"].items()),
        "",
        f"## Failures ({len(summary['failures'])})",
        "",
    ]
    for f in summary["failures"]:
        verdict = "kept" if f["label"] == "contradiction" else f"removed ({f['reason']})"
        lines += [
            f"- `{f['id']}` {f['label']}/{f['kind']}, {verdict}: {f['sentence']}",
            f"  - passage: {_squeeze(f['passage'])}",
        ]
    return "\n".join(lines) + "\n"


def write_report(name: str, source: str, summary: dict, out: Path = REPORTS) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{name}.md", out / f"{name}.json"
    md.write_text(markdown(name, source, summary), encoding="utf-8")
    js.write_text(
        json.dumps({"set": source, **summary}, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return md, js
