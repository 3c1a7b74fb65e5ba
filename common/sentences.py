"""Sentence segmentation tuned for EU policy text (abbreviations, article numbers, figures).

Chunking uses it so chunks never end mid-sentence; ingestion stores the spans with a vector
each, so answering can pick sentences without re-splitting or re-embedding anything.
"""

from __future__ import annotations

import re

ABBREVIATIONS = {
    "e.g",
    "i.e",
    "etc",
    "art",
    "arts",
    "no",
    "nos",
    "para",
    "paras",
    "cf",
    "vs",
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "st",
    "op",
    "cit",
    "ibid",
    "p",
    "pp",
    "vol",
    "ed",
    "eds",
    "fig",
    "approx",
    "ca",
    "incl",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "reg",
    "dir",
    "doc",
    "ref",
    "n",
    "par",
    "sec",
    "u.s",
    "u.k",
}

# A candidate boundary: terminal punctuation, optional closing quote/bracket, then whitespace.
_BOUNDARY = re.compile(r"[.!?;](?:[\"'”’)\]]*)\s+")
_NEXT_STARTS_SENTENCE = re.compile(r"[\"'“‘(\[]?[A-Z0-9•\-–*]")


def is_abbreviation(text: str, dot_index: int) -> bool:
    """Whether the dot at `dot_index` ends an abbreviation or an initial, not a sentence."""
    start = dot_index
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot_index].lower()
    if not word:
        return False
    if word in ABBREVIATIONS:
        return True
    # Single capital initials ("J. Smith") and enumerations like "(a." are not boundaries.
    return len(word) == 1 and text[dot_index - 1].isupper()


def split_sentences(text: str, min_chars: int = 2) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (line breaks always end a sentence)."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        line_start = offset
        offset += len(line) + 1
        start = 0
        for match in _BOUNDARY.finditer(line):
            punct = match.start()
            nxt = line[match.end() : match.end() + 2]
            if not _NEXT_STARTS_SENTENCE.match(nxt):
                continue
            if line[punct] == "." and is_abbreviation(line, punct):
                continue
            if line[punct] == ";" and not nxt[:1].isupper():
                continue
            # "2.1. Direct awards": a numbered heading's own dots are not boundaries.
            if line[punct] == "." and re.fullmatch(r"\s*[\d.()a-z]{1,8}", line[start:punct]):
                continue
            end = match.end()
            _append(spans, line, line_start, start, end, min_chars)
            start = end
        _append(spans, line, line_start, start, len(line), min_chars)
    return spans


def _append(
    spans: list[tuple[int, int]], line: str, base: int, start: int, end: int, min_chars: int
) -> None:
    piece = line[start:end]
    stripped = piece.strip()
    if len(stripped) < min_chars:
        return
    lead = len(piece) - len(piece.lstrip())
    spans.append((base + start + lead, base + start + lead + len(stripped)))


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]
