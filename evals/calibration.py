"""Does the confidence mean something? Expected calibration error (ECE), the reliability
plot, and the monotone maps `python -m evals calibrate` fits (pure functions over numbers).

- **Population**: questions expecting an answer that were answered, with key facts and a
  confidence. **Correct** means every key fact is in the answer (`all_key_facts` == 1).
- **ECE**: confidences in `BINS` equal-width bins over [0, 1] (a bin holds [lo, hi), the last
  one 1.0 too); the sum over bins of (share of answers in the bin) x |share correct - mean
  confidence|. 0 when an answer shown with 0.8 is right 8 times in 10 at every level.
- **Maps** (rag/calibration.py applies them): isotonic (pool-adjacent-violators, linear
  between the pooled blocks), Platt (logistic on the raw score, Platt's smoothed targets) and
  logistic (the raw score and named evidence features, ridge-regularised), all increasing in
  the raw score and within [0, 1], so answers with the same evidence keep their order.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.crossval import folds
from rag.calibration import Calibration

BINS = 10
Pairs = Sequence[tuple[float, bool]]  # (confidence, correct)
Fit = Callable[[Sequence[float], Sequence[bool]], Calibration]
Features = Mapping[str, float]
# The logistic map's ridge penalty on its weights (not its bias). Chosen by 5-fold
# cross-validation on the six dev sets (353 answers): 0.1, 1 and 3 gave held-out ECE within
# 0.01 of each other per corpus, 10 lost the legal shift (0.05 -> 0.07 on the legal texts).
RIDGE = 1.0


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    confidence: float | None  # mean confidence of the answers in the bin
    accuracy: float | None  # share of them that are correct


def calibration_pairs(rows: Sequence[Mapping[str, object]]) -> list[tuple[float, bool]]:
    """(confidence, correct) of each answered question that expects an answer and has key
    facts, from per-question metric rows (`evals.runner.score_question`)."""
    out = []
    for row in rows:
        conf, correct = row.get("confidence"), row.get("all_key_facts")
        if row.get("expected") != "answer" or row.get("behaviour") != "answered":
            continue
        if conf is None or correct is None:
            continue
        out.append((float(conf), float(correct) >= 1.0))  # type: ignore[arg-type]
    return out


def bin_index(confidence: float, bins: int = BINS) -> int:
    """The bin of a confidence: [k/bins, (k+1)/bins), 1.0 in the last bin."""
    return min(bins - 1, max(0, math.floor(confidence * bins + 1e-9)))


def reliability_bins(pairs: Pairs, bins: int = BINS) -> list[Bin]:
    """Every bin, empty ones included (confidence and accuracy None)."""
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for conf, correct in pairs:
        members[bin_index(conf, bins)].append((conf, correct))
    out = []
    for k, inside in enumerate(members):
        n = len(inside)
        out.append(
            Bin(
                low=k / bins,
                high=(k + 1) / bins,
                count=n,
                confidence=sum(c for c, _ in inside) / n if n else None,
                accuracy=sum(ok for _, ok in inside) / n if n else None,
            )
        )
    return out


def ece(pairs: Pairs, bins: int = BINS) -> float | None:
    """Expected calibration error; None without any answer to judge."""
    if not pairs:
        return None
    total = len(pairs)
    return sum(
        b.count / total * abs(b.accuracy - b.confidence)  # type: ignore[operator]
        for b in reliability_bins(pairs, bins)
        if b.count
    )


def auc(pairs: Pairs) -> float | None:
    """How well the confidence ranks right answers above wrong ones (ties count half): 0.5 is
    no better than chance. An increasing map keeps it; only a better score raises it."""
    right = [c for c, ok in pairs if ok]
    wrong = [c for c, ok in pairs if not ok]
    if not right or not wrong:
        return None
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return wins / (len(right) * len(wrong))


# --- fitting ------------------------------------------------------------------------------


def fit_isotonic(scores: Sequence[float], labels: Sequence[bool]) -> Calibration:
    """The increasing step function closest to the labels (pool adjacent violators); each
    pooled block becomes a flat piece from its lowest to its highest score, joined linearly."""
    if not scores:
        raise ValueError("nothing to fit")
    pooled: dict[float, list[float]] = {}
    for s, y in zip(scores, labels, strict=True):
        entry = pooled.setdefault(float(s), [0.0, 0.0])
        entry[0] += float(y)
        entry[1] += 1.0
    blocks: list[list[float]] = []  # [sum, count, lowest score, highest score]
    for s in sorted(pooled):
        blocks.append([pooled[s][0], pooled[s][1], s, s])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            last = blocks.pop()
            blocks[-1] = [blocks[-1][0] + last[0], blocks[-1][1] + last[1], blocks[-1][2], last[3]]
    xs: list[float] = []
    ys: list[float] = []
    for total, count, low, high in blocks:
        for x in (low, high) if high > low else (low,):
            xs.append(round(min(1.0, max(0.0, x)), 6))
            ys.append(round(total / count, 6))
    return Calibration("isotonic", tuple(xs), tuple(ys))


def _newton(design: np.ndarray, targets: np.ndarray, penalty: np.ndarray, start: np.ndarray,
            iterations: int) -> np.ndarray:  # fmt: skip
    """The weights of a logistic regression of `targets` on the `design` columns, with a
    quadratic `penalty` on them, by Newton's method from `start`."""
    w = start.astype(float)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        gradient = design.T @ (p - targets) + penalty @ w
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(w)), gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return w


def fit_platt(scores: Sequence[float], labels: Sequence[bool],
              iterations: int = 100) -> Calibration:  # fmt: skip
    """Logistic regression of the label on the score (Newton's method), with Platt's targets
    (N+ + 1) / (N+ + 2) and 1 / (N- + 2), so that a clean split never gives 0 or 1. A slope
    below 0 (a score that does not rank) becomes 0: the overall rate, whatever the score."""
    if not scores:
        raise ValueError("nothing to fit")
    x = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    t = np.where(y, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    design = np.column_stack([x, np.ones_like(x)])
    start = np.array([0.0, math.log((positives + 1) / (negatives + 1))])
    a, b = map(float, _newton(design, t, np.zeros((2, 2)), start, iterations))
    if a < 0:
        a, b = 0.0, math.log((positives + 1) / (negatives + 1))
    return Calibration("platt", a=round(a, 6), b=round(b, 6))


def fit_logistic(
    scores: Sequence[float],
    labels: Sequence[bool],
    features: Sequence[Features],
    names: Sequence[str],
    ridge: float = RIDGE,
    iterations: int = 100,
) -> Calibration:
    """Logistic regression of the label on the raw score and the named features (Newton's
    method, ridge penalty on the weights, none on the bias). The raw score's weight stays >= 0:
    if the fit makes it negative it is refitted at 0, so the map never ranks a stronger
    answer below a weaker one with the same features."""
    if not scores:
        raise ValueError("nothing to fit")
    y = np.asarray(labels, dtype=float)
    columns = [np.asarray(scores, dtype=float)]
    columns += [np.asarray([float(f.get(n, 0.0)) for f in features]) for n in names]

    def solve(cols: list[np.ndarray]) -> np.ndarray:
        design = np.column_stack([*cols, np.ones(len(y))])
        penalty = ridge * np.eye(design.shape[1])
        penalty[-1, -1] = 0.0
        return _newton(design, y, penalty, np.zeros(design.shape[1]), iterations)

    w = solve(columns)
    if w[0] < 0:
        w = np.concatenate([[0.0], solve(columns[1:])])
    weights = tuple((n, round(float(v), 6)) for n, v in zip(names, w[1:-1], strict=True))
    return Calibration("logistic", a=round(float(w[0]), 6), b=round(float(w[-1]), 6),
                       weights=weights)  # fmt: skip


FITS: dict[str, Fit] = {"isotonic": fit_isotonic, "platt": fit_platt}


def held_out(
    scores: Sequence[float],
    labels: Sequence[bool],
    fit: Fit,
    k: int = 5,
    seed: int = 13,
    features: Sequence[Features] | None = None,
) -> list[float]:
    """Each score mapped by the map fitted on the other k - 1 folds (k-fold cross-validation):
    the calibrated confidences a new question would get. With `features`, `fit` also takes
    the training answers' features and the map reads each answer's own."""
    out = [0.0] * len(scores)
    for fold in folds(len(scores), k, seed):
        inside = set(fold)
        train = [i for i in range(len(scores)) if i not in inside]
        train_scores, train_labels = [scores[i] for i in train], [labels[i] for i in train]
        if features is None:
            mapping = fit(train_scores, train_labels)
        else:
            mapping = fit(train_scores, train_labels, [features[i] for i in train])  # type: ignore[call-arg]
        for i in fold:
            out[i] = mapping(scores[i], features[i] if features is not None else None)
    return out


# --- plot ---------------------------------------------------------------------------------


def write_reliability_plot(series: Mapping[str, Pairs], path: Path, title: str,
                           bins: int = BINS) -> None:  # fmt: skip
    """Reliability diagram (share correct vs mean confidence per bin, one line per series,
    the diagonal is perfect calibration) above the count of answers per bin."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6.5, 7.5), gridspec_kw={"height_ratios": [3, 1]}, sharex=True
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="#888888", label="perfect calibration")
    width = 1.0 / bins / max(1, len(series))
    colours = ("#1f5fa8", "#e08a2c", "#3a9a4a", "#a83a3a")
    for n, (label, pairs) in enumerate(series.items()):
        colour = colours[n % len(colours)]
        filled = [b for b in reliability_bins(pairs, bins) if b.count]
        error = ece(pairs, bins)
        shown = f"{label} (ECE {error:.3f}, n={len(pairs)})" if error is not None else label
        top.plot([b.confidence for b in filled], [b.accuracy for b in filled], marker="o",
                 color=colour, label=shown)  # fmt: skip
        lefts = [b.low + n * width for b in reliability_bins(pairs, bins)]
        counts = [b.count for b in reliability_bins(pairs, bins)]
        bottom.bar(lefts, counts, width=width, align="edge", color=colour, alpha=0.8)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_ylabel("share correct (every key fact in the answer)")
    top.set_title(title, fontsize=10)
    top.grid(alpha=0.3)
    top.legend(fontsize=8, loc="lower right")
    bottom.set_xlabel(f"confidence ({bins} equal-width bins)")
    bottom.set_ylabel("answers")
    bottom.set_xticks([k / bins for k in range(bins + 1)])
    bottom.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
