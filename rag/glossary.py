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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

GLOSSARY_DIR = Path(__file__).with_name("glossaries")
# Numbers, years, periods, references and acronyms travel across languages unchanged.
_INVARIANT = re.compile(r"\b\d[\d\s.,/–-]*\d\b|\b\d\b|\b[A-Z]{2,}[A-Za-z]*\b|\b[A-Z]\(\d{4}\)")


@dataclass(frozen=True)
class Glossary:
    code: str
    patterns: tuple[tuple[str, re.Pattern[str]], ...]  # (English term, its stems)

    def english_terms(self, question: str) -> list[str]:
        """The English terms the question expresses, in the order they appear in it. One
        term per stretch of the question: where several match the same words ('Arbeit' is
        'work' and 'labour'; 'Arbeitsprogramm' also 'work programme'), the longest match
        wins, then the term with more words, then the one more frequent in the documents
        (earlier in terms.txt); synonyms would only blur the query."""
        found: list[tuple[int, int, int, int, str]] = []
        for order, (term, pattern) in enumerate(self.patterns):
            for match in pattern.finditer(question):
                found.append((match.start(), -len(match.group(0)), -len(term.split()), order,
                              term))  # fmt: skip
        kept: list[tuple[int, int, str]] = []
        for start, negative_length, _, _, term in sorted(found):
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
    patterns = []
    for term, stems in data.get("terms", {}).items():
        if not stems:
            continue
        try:
            compiled = re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{s})" for s in stems) + ")", re.I)
        except re.error as exc:
            raise ValueError(f"rag/glossaries/{code}.json: {term!r}: {exc}") from exc
        patterns.append((term, compiled))
    return Glossary(code, tuple(patterns))


def english_keywords(question: str, language: str) -> str:
    """The question as English keywords ('' for English or when nothing is recognised):
    glossary terms plus the question's numbers, years and acronyms."""
    words = glossary(language)
    if words is None:
        return ""
    terms = words.english_terms(question)
    invariant = [m.group(0) for m in _INVARIANT.finditer(question)]
    return " ".join(dict.fromkeys([*terms, *invariant]))
