"""Text clean-up shared by all loaders: invisible characters, hyphenation, whitespace, and
page furniture (repeated headers/footers, page numbers, page-break rules)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from common.hygiene import INVISIBLE

_HYPHENATED_BREAK = re.compile(r"(\w)-\n(?=[a-zà-ÿ])")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_PAGE_NUMBER = re.compile(
    r"^\s*(?:page\s+)?[-–—]?\s*\d{1,4}\s*(?:/|of)?\s*\d{0,4}\s*[-–—]?\s*$", re.IGNORECASE
)
_RULE = re.compile(r"^\s*(?:-{3,}|_{3,}|\*{3,}|={3,})\s*$")


def strip_invisible(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return INVISIBLE.sub("", text)


def repair_hyphenation(text: str) -> str:
    """'migra-\\ntion' -> 'migration' (only before a lower-case continuation)."""
    return _HYPHENATED_BREAK.sub(r"\1", text)


def normalise_spaces(line: str) -> str:
    return _SPACES.sub(" ", line).strip()


_SENTENCE_END = re.compile(r"[.!?:;][\"'”’)\]]*(?:⟦fn:\w{1,8}⟧)*$")


def ends_sentence(text: str) -> bool:
    """Whether a paragraph ends with terminal punctuation (then maybe a quote or footnote mark)."""
    return bool(_SENTENCE_END.search(text.rstrip()))


def is_page_debris(line: str) -> bool:
    """Page numbers and horizontal rules left by page breaks."""
    return bool(_PAGE_NUMBER.match(line) or _RULE.match(line))


def repeated_furniture(pages: list[list[str]], min_pages: int = 3) -> set[str]:
    """Short lines that recur at the top or bottom of many pages: running headers/footers."""
    if len(pages) < min_pages:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        edge = [normalise_spaces(x) for x in lines[:3] + lines[-3:] if x.strip()]
        counts.update({re.sub(r"\d+", "#", x) for x in edge if len(x) <= 100})
    threshold = max(min_pages, int(len(pages) * 0.5))
    return {line for line, n in counts.items() if n >= threshold}


def repeated_short_lines(lines: list[str], min_count: int = 3, max_chars: int = 60) -> set[str]:
    """For text without page structure: short non-heading lines repeated many times
    (e.g. 'Brussels, 28.1.2026' and 'C(2026) 36 final' on every converted page)."""
    counts = Counter(normalise_spaces(x) for x in lines if 0 < len(x.strip()) <= max_chars)
    return {
        line
        for line, n in counts.items()
        if n >= min_count and not line.startswith("#") and not line.startswith("-")
    }
