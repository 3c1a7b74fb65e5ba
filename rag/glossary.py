"""Dictionary query translation for questions not in English: each language's glossary
(`rag/glossaries/<code>.json`) maps the English terms of the documents (`terms.txt`, taken
from the corpora's vocabulary) to the stems that express them in that language.

The English terms found in a question, with its numbers, years and acronyms, make an English
keyword query: keyword search and the English model can then work on it, beside the
multilingual model on the question itself. It is a bag of words, not a translation, and it
is never shown to anyone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

GLOSSARY_DIR = Path(__file__).with_name("glossaries")
# Numbers, years, periods, references and acronyms travel across languages unchanged.
_INVARIANT = re.compile(r"\b\d[\d\s.,/–-]*\d\b|\b\d\b|\b[A-Z]{2,}[A-Za-z]*\b|\b[A-Z]\(\d{4}\)")


# Regex syntax that is not a letter the stem spells out: wildcards, boundaries, groups.
_OPTIONAL = re.compile(r"\((?:\?:)?[^()]*\)[?*]")  # an optional group spells out nothing
_SYNTAX = re.compile(r"\\[wsbdWSBD][*+?]?|\[[^\]]*\]|[()?:|*+{}\d,^$\\.-]")


def specificity(stem: str) -> int:
    """How many letters a stem pattern spells out ('finanzhilfe\\w*' 11, '\\w*hilfe\\w*' 5):
    of two terms matching the same words, the one spelled out further is the meant one."""
    required = _OPTIONAL.sub("", stem)
    return len(_SYNTAX.sub("", required)) + len(re.findall(r"\[[^\]]*\]", required))


@dataclass(frozen=True)
class Glossary:
    code: str
    patterns: tuple[tuple[str, re.Pattern[str]], ...]  # (English term, its stems)
    stems: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)  # per term

    def _longest(self, term: str, question: str, start: int, words: str) -> tuple[int, int]:
        """The longest of the term's stems at `start`, and how much of it that stem spells
        out: the combined pattern stops at the first stem that matches ('riscontro' before
        'riscontro positivo')."""
        found = [
            (len(m.group(0)), n)
            for n, stem in map(_stem, self.stems.get(term, ()))
            if (m := stem.match(question, start))
        ]
        return max(found, default=(len(words), 0))

    def english_terms(self, question: str) -> list[str]:
        """The English terms the question expresses, in the order they appear in it. One
        term per stretch of the question: where several match the same words ('Arbeit' is
        'work' and 'labour'; 'Arbeitsprogramm' also 'work programme'), the longest match
        wins, then the stem that spells out more of it ('Finanzhilfen' is 'grants' by
        'finanzhilfe', not 'assistance' by '-hilfe'), then the term with more words, then
        the one more frequent in the documents (earlier in terms.txt); synonyms would only
        blur the query."""
        found: list[tuple[int, int, int, int, int, str]] = []
        for order, (term, pattern) in enumerate(self.patterns):
            for match in pattern.finditer(question):
                length, spelled = self._longest(term, question, match.start(), match.group(0))
                found.append((match.start(), -length, -spelled, -len(term.split()), order,
                              term))  # fmt: skip
        kept: list[tuple[int, int, str]] = []
        for start, negative_length, _, _, _, term in sorted(found):
            end = start - negative_length
            if any(start >= a and end <= b for a, b, _ in kept):
                continue  # inside a longer match already kept (or the same one)
            kept.append((start, end, term))
        return list(dict.fromkeys(term for _, _, term in kept))


@lru_cache(maxsize=32)
def glossary(code: str) -> Glossary | None:
    path = GLOSSARY_DIR / f"{code}.json"
    if code == "en" or not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        return build_glossary(code, data.get("terms", {}))
    except ValueError as exc:
        raise ValueError(f"rag/glossaries/{code}.json: {exc}") from exc


def build_glossary(code: str, terms: dict[str, list[str]]) -> Glossary:
    """A glossary from {English term: stems}, in the order of the documents' frequency."""
    patterns = []
    for term, stems in terms.items():
        if not stems:
            continue
        try:
            compiled = re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{s})" for s in stems) + ")", re.I)
        except re.error as exc:
            raise ValueError(f"{term!r}: {exc}") from exc
        patterns.append((term, compiled))
    return Glossary(code, tuple(patterns), {term: tuple(s) for term, s in terms.items() if s})


@lru_cache(maxsize=8192)
def _stem(stem: str) -> tuple[int, re.Pattern[str]]:
    """A stem on its own, compiled when a question first matches its term (a glossary's
    1,400 terms compile in about 0.1 s; their 3,000 stems would double that)."""
    return specificity(stem), re.compile(stem, re.I)


def preload() -> None:
    """Compile every language's glossary now: the first question in a language would
    otherwise wait about 0.1 s for its glossary."""
    for path in sorted(GLOSSARY_DIR.glob("*.json")):
        glossary(path.stem)


def english_keywords(question: str, language: str) -> str:
    """The question as English keywords ('' for English or when nothing is recognised):
    glossary terms plus the question's numbers, years and acronyms."""
    words = glossary(language)
    if words is None:
        return ""
    terms = words.english_terms(question)
    invariant = [m.group(0) for m in _INVARIANT.finditer(question)]
    return " ".join(dict.fromkeys([*terms, *invariant]))
