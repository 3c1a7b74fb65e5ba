"""The confidence users see: the pipeline's raw evidence score mapped to a probability.

The raw score (`rag.steps.raw_confidence`, a hand-weighted mix of sentence similarity, term
coverage and the share of sentences kept) ranks answers well but is no probability: a wrong
answer could show 0.9. `python -m evals calibrate` fits a monotone map on the dev sets (never
the blind ones) and writes it to rag/calibration.json; this module reads it, so that an
answer shown with 0.8 holds every key fact about 8 times in 10.

Three forms are read: `isotonic` (knots `x` ascending, `y` non-decreasing, linear between them,
flat beyond them), `platt` (1 / (1 + exp(-(a * raw + b))), a >= 0) and `logistic` (Platt's
form with named evidence features beside the raw score: z = a * raw + b + sum of weight *
feature, a >= 0). The features are the ones `FEATURES` names; rag.steps computes them. A missing
or invalid file gives the identity, with one warning in the log: the raw score, as before
calibration.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("rag")

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
METHODS = ("identity", "isotonic", "platt", "logistic")
# Evidence a `logistic` map may read beside the raw score (rag.steps.confidence_features):
# - legal_share: the share of the cited passages that come from a legal act (regulation,
#   directive, decision). On the six dev sets, answers on the extended corpus held every key
#   fact 54 times in 100 against 78 on the default documents, at the same mean raw score.
FEATURES = ("legal_share",)


@dataclass(frozen=True)
class Calibration:
    """A map from [0, 1] to [0, 1], increasing in the raw score whatever the features."""

    method: str = "identity"
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0
    weights: tuple[tuple[str, float], ...] = ()  # logistic: (feature, weight), FEATURES only

    def __call__(self, raw: float, features: Mapping[str, float] | None = None) -> float:
        """`features`: the evidence features of the answer (a logistic map reads them; a
        feature not given counts 0, i.e. no legal source)."""
        raw = min(1.0, max(0.0, float(raw)))
        if self.method == "isotonic":
            return float(np.interp(raw, self.x, self.y))
        if self.method in ("platt", "logistic"):
            given = features or {}
            z = self.a * raw + self.b + sum(w * float(given.get(n, 0.0)) for n, w in self.weights)
            return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        return raw

    def to_json(self) -> dict[str, Any]:
        if self.method == "isotonic":
            return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}
        if self.method == "platt":
            return {"method": "platt", "a": self.a, "b": self.b}
        if self.method == "logistic":
            return {"method": "logistic", "a": self.a, "b": self.b, "features": dict(self.weights)}
        return {"method": "identity"}


IDENTITY = Calibration()


def parse(data: Any) -> Calibration:
    """The map a calibration.json document describes; ValueError when it is not monotone,
    leaves [0, 1], or is not one of `METHODS`."""
    if not isinstance(data, dict) or data.get("method") not in METHODS:
        raise ValueError(f"'method' must be one of {', '.join(METHODS)}")
    method = data["method"]
    if method == "isotonic":
        xs = tuple(float(v) for v in data["x"])
        ys = tuple(float(v) for v in data["y"])
        if not xs or len(xs) != len(ys):
            raise ValueError("'x' and 'y' must be non-empty and of equal length")
        if any(b <= a for a, b in itertools.pairwise(xs)):
            raise ValueError("'x' must be strictly ascending")
        if any(b < a for a, b in itertools.pairwise(ys)):
            raise ValueError("'y' must be non-decreasing (the map must be monotone)")
        if not all(0.0 <= v <= 1.0 for v in xs + ys):
            raise ValueError("knots must lie in [0, 1]")
        return Calibration("isotonic", xs, ys)
    if method in ("platt", "logistic"):
        a, b = float(data["a"]), float(data["b"])
        if not (math.isfinite(a) and math.isfinite(b)) or a < 0:
            raise ValueError("'a' must be finite and >= 0 (the map must be increasing)")
        if method == "platt":
            return Calibration("platt", a=a, b=b)
        features = data.get("features")
        if not isinstance(features, dict):
            raise ValueError("'features' must be an object of feature weights")
        unknown = sorted(set(features) - set(FEATURES))
        if unknown:  # a map reading evidence this code does not compute would be applied wrong
            raise ValueError(f"unknown feature(s) {', '.join(unknown)}; known: {FEATURES}")
        weights = tuple((name, float(features[name])) for name in FEATURES if name in features)
        if not all(math.isfinite(w) for _, w in weights):
            raise ValueError("feature weights must be finite")
        return Calibration("logistic", a=a, b=b, weights=weights)
    return IDENTITY


def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    """The fitted map in `path`; the identity (raw score shown) when it is missing or bad."""
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        log.warning("calibration: %s not found; confidence is the raw score (identity)", path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("calibration: %s is invalid (%s); confidence is the raw score (identity)",
                    path, exc)  # fmt: skip
    return IDENTITY


@functools.cache
def default_calibration() -> Calibration:
    """rag/calibration.json, read once per process."""
    return load_calibration(CALIBRATION_FILE)


def calibrated(raw: float, features: Mapping[str, float] | None = None) -> float:
    """The shown confidence for a raw score and the answer's evidence features. 0 stays 0: no
    verified sentence, nothing to be confident about."""
    return 0.0 if raw <= 0.0 else default_calibration()(raw, features)
