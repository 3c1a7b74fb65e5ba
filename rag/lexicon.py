"""Per-language word lists for the guards, the scope check and question analysis
(`rag/lexicons/<code>.json`, one file per official EU language other than English, whose
rules live in `rag/guards.py` and `rag/asked_for.py`).

Each entry is a regular expression matched case-insensitively anywhere in the question, with
a word boundary in front: inflected languages write stems (`migra\\w*`). They are rules, not a
model, so each decision can be explained.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

LEXICON_DIR = Path(__file__).with_name("lexicons")
# What a guard or the scope check looks for.
GUARD_KEYS = ("domain", "eu_policy", "injection", "profiling", "fabrication", "individual_case")
# What a question asks for (rag/asked_for.py kinds), plus 'list'
# (rag/question.classify_question, which reads 'count' and 'percentage' for wanting numbers).
ASK_KEYS = (
    "amount", "percentage", "date", "duration", "count", "organisation", "country", "legal",
    "definition", "reason", "list",
)  # fmt: skip


class LexiconError(ValueError):
    """A lexicon file is malformed (a missing key or a pattern that does not compile)."""


def _compile(code: str, key: str, patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    try:
        return re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{p})" for p in patterns) + ")", re.I)
    except re.error as exc:
        raise LexiconError(f"rag/lexicons/{code}.json: {key}: {exc}") from exc


@dataclass(frozen=True)
class Lexicon:
    code: str
    guards: dict[str, re.Pattern[str] | None] = field(default_factory=dict)
    asks: dict[str, re.Pattern[str] | None] = field(default_factory=dict)

    def matches(self, key: str, text: str) -> bool:
        pattern = self.guards.get(key) or self.asks.get(key)
        return bool(pattern and pattern.search(text))

    def asked(self, text: str) -> frozenset[str]:
        return frozenset(k for k, p in self.asks.items() if p is not None and p.search(text))


def available() -> list[str]:
    return sorted(p.stem for p in LEXICON_DIR.glob("*.json"))


@lru_cache(maxsize=32)
def lexicon(code: str) -> Lexicon | None:
    """The lexicon of a language code ('fr'), or None when there is none (English)."""
    path = LEXICON_DIR / f"{code}.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    missing = [k for k in GUARD_KEYS if k not in data] + [
        k for k in ASK_KEYS if k not in data.get("asks", {})
    ]
    if missing:
        raise LexiconError(f"rag/lexicons/{code}.json lacks {', '.join(missing)}")
    guards = {k: _compile(code, k, list(data[k])) for k in GUARD_KEYS}
    asks = {k: _compile(code, f"asks.{k}", list(data["asks"][k])) for k in ASK_KEYS}
    return Lexicon(code, guards, asks)
