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


@lru_cache(maxsize=1024)
def _compile(code: str, key: str, patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One rule as one pattern, compiled once per process."""
    if not patterns:
        return None
    try:
        return re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{p})" for p in patterns) + ")", re.I)
    except re.error as exc:
        raise LexiconError(f"rag/lexicons/{code}.json: {key}: {exc}") from exc


@dataclass(frozen=True)
class Lexicon:
    """A language's rules, each compiled the first time it is read: the injection check reads
    one rule of every language on every question, the others are read only for questions in
    their own language (compiling all of them cost about 2 s of every start)."""

    code: str
    guards: dict[str, tuple[str, ...]] = field(default_factory=dict)
    asks: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def pattern(self, key: str) -> re.Pattern[str] | None:
        if key in self.guards:
            return _compile(self.code, key, self.guards[key])
        if key in self.asks:
            return _compile(self.code, f"asks.{key}", self.asks[key])
        return None

    def matches(self, key: str, text: str) -> bool:
        pattern = self.pattern(key)
        return bool(pattern and pattern.search(text))

    def asked(self, text: str) -> frozenset[str]:
        return frozenset(
            k for k in self.asks if (p := self.pattern(k)) is not None and p.search(text)
        )

    def check(self) -> None:
        """Compile every rule now (LexiconError names the file and the rule that fails)."""
        for key in (*self.guards, *self.asks):
            self.pattern(key)


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
    guards = {k: tuple(data[k]) for k in GUARD_KEYS}
    asks = {k: tuple(data["asks"][k]) for k in ASK_KEYS}
    return Lexicon(code, guards, asks)
