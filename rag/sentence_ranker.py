"""A learned sentence ranker: which sentence of the top passages holds the answer.

The hand weights (`SentenceWeights`) were grid-searched a few at a time; this model learns all
of them at once, plus signals the hand weights leave out (the passage's own retrieval score,
the sentence's place in its passage, a lead-in to a list). It is a conditional logit: one
softmax over the candidate sentences of a question, trained on the dev sets' questions, a
sentence being right when it states a key fact (`python -m evals ranker`, `make
train-ranker`, which cross-validates it before writing `rag/sentence_ranker.json`).

Linear on purpose: the weights are a JSON file a reviewer can read, a sentence is scored in
microseconds, and with about 270 training questions a deep model overfits (a cross-encoder
fine-tuned from MiniLM on the same data ranked worse than the hand weights; README).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

RANKER_FILE = Path(__file__).with_name("sentence_ranker.json")

# The features the model reads (the composer computes them for every candidate sentence).
FEATURES: tuple[str, ...] = (
    "similarity",  # cosine of sentence and question vectors
    "coverage",  # share of the question's term weight in the sentence
    "density",  # matched terms per word
    "rank",  # the passage's retrieval rank (1 first .. 0)
    "passage_score",  # the passage's retrieval score
    "figures",  # figures of the question's kind
    "no_digit",  # a question wanting numbers, a sentence without any
    "asked",  # share of the asked-for kinds of value the sentence adds
    "not_asked",  # the question asks for a kind of value the sentence lacks
    "title",  # the document's own title line
    "length",  # words beyond 35, in tens
    "words",  # words, in forties (capped at 80)
    "position",  # place in the passage, in tens (capped at 20)
    "first",  # the passage's first sentence
    "lead_in",  # ends with a colon (announces what follows)
    "items",  # list items it brings, in fours (capped at 8)
    "enumerated",  # starts with a paragraph or point number ("5.", "(b)")
    "section",  # share of the question's term weight in the passage's section path
    "recital",  # from a legal act's recitals
)


@dataclass(frozen=True)
class SentenceRanker:
    """score = slope x (weights . standardised features) + intercept.

    The affine map puts the learned score on the hand-weighted score's scale, so that the
    composer's relative floor, novelty bonus and list folding mean what they meant."""

    weights: dict[str, float]
    mean: dict[str, float]
    scale: dict[str, float]
    slope: float
    intercept: float
    trained_on: str = ""
    # Share of the learned score in a sentence's score, the rest from the hand weights
    # (chosen by cross-validation with the ranker, `evals/ranker.py`).
    blend: float = 1.0
    # Only the answer's first sentence is chosen by the learned score; the hand weights
    # choose which sentences are quoted (and so what verification and abstention see).
    lead_only: bool = False

    def score(self, features: Mapping[str, float]) -> float:
        z = sum(
            w * (features.get(name, 0.0) - self.mean[name]) / self.scale[name]
            for name, w in self.weights.items()
        )
        return self.slope * z + self.intercept

    def blended(self, features: Mapping[str, float], hand: float) -> float:
        """The composer's score: `blend` of the learned score, the rest the hand score."""
        if self.blend >= 1.0:
            return self.score(features)
        return self.blend * self.score(features) + (1.0 - self.blend) * hand

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, document: Mapping[str, object]) -> SentenceRanker:
        ranker = cls(**document)  # type: ignore[arg-type]
        unknown = set(ranker.weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}")
        if set(ranker.weights) - set(ranker.mean) or set(ranker.weights) - set(ranker.scale):
            raise ValueError("every weighted feature needs a mean and a scale")
        if any(s <= 0 for s in ranker.scale.values()) or ranker.slope <= 0:
            raise ValueError("scales and slope must be positive")
        if not 0.0 < ranker.blend <= 1.0:
            raise ValueError("blend must be in (0, 1]")
        return ranker


def load_ranker(path: Path = RANKER_FILE) -> SentenceRanker | None:
    """The shipped ranker, or None (the hand weights) when the file is absent or invalid;
    an invalid file is logged, never fatal: answers still come, ranked by hand weights."""
    if not path.exists():
        return None
    try:
        return SentenceRanker.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        log.warning("sentence ranker: %s is invalid (%s); using the hand weights", path, exc)
        return None


@dataclass(frozen=True)
class Candidate:
    """One candidate sentence of a training question: its features, the hand-weighted score
    and whether it states a key fact."""

    features: Mapping[str, float]
    hand_score: float
    right: bool


def fit_ranker(questions: Sequence[Sequence[Candidate]], features: Sequence[str] = FEATURES,
               l2: float = 0.01, iterations: int = 300, step: float = 0.5,
               trained_on: str = "") -> SentenceRanker:  # fmt: skip
    """Conditional logit by gradient descent (the loss is convex: the result does not depend
    on a seed). Questions without a right candidate teach nothing and are skipped."""
    usable = [q for q in questions if any(c.right for c in q)]
    if not usable:
        raise ValueError("no question has a candidate sentence stating a key fact")
    names = list(features)
    xs = [np.array([[c.features.get(n, 0.0) for n in names] for c in q]) for q in usable]
    stacked = np.vstack(xs)
    mean = stacked.mean(axis=0)
    scale = stacked.std(axis=0)
    scale[scale < 1e-6] = 1.0
    xs = [(x - mean) / scale for x in xs]
    targets = []
    for q in usable:
        right = np.array([1.0 if c.right else 0.0 for c in q])
        targets.append(right / right.sum())
    w = np.zeros(len(names))
    for _ in range(iterations):
        gradient = l2 * w
        for x, target in zip(xs, targets, strict=True):
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            gradient += x.T @ (p - target) / len(xs)
        w -= step * gradient
    # On the hand-weighted scale (least squares of the hand score on the learned one).
    learned = np.concatenate([x @ w for x in xs])
    hand = np.array([c.hand_score for q in usable for c in q])
    spread = float(learned.std())
    slope = float(np.cov(learned, hand, bias=True)[0, 1] / spread**2) if spread > 0 else 0.0
    if not math.isfinite(slope) or slope <= 0:
        slope = float(hand.std() / spread) if spread > 0 else 1.0
    intercept = float(hand.mean() - slope * learned.mean())
    return SentenceRanker(
        weights={n: round(float(v), 6) for n, v in zip(names, w, strict=True)},
        mean={n: round(float(v), 6) for n, v in zip(names, mean, strict=True)},
        scale={n: round(float(v), 6) for n, v in zip(names, scale, strict=True)},
        slope=round(slope, 6),
        intercept=round(intercept, 6),
        trained_on=trained_on,
    )
