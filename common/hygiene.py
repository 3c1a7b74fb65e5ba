"""Text hygiene at the boundary: every string a user sends is checked and normalised here
before a guard, a model or a log line sees it, so that look-alike characters, invisible
characters and broken encodings cannot slip an instruction past a rule or crash a response."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator

# Soft hyphen, Mongolian vowel separator, zero-width and joiner characters, direction marks,
# bidi embeddings/overrides and isolates, invisible operators, BOM; and the format characters
# that can hide letters from a rule: combining grapheme joiner, Hangul fillers, variation
# selectors, tag characters.
INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
    "\u034f\u115f\u1160\u3164\uffa0\ufe00-\ufe0f\U000e0000-\U000e007f]"
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# C0/C1 controls other than tab, line feed and carriage return.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class UnsafeText(ValueError):
    """A string that cannot be taken at all (a lone surrogate is not text in any encoding)."""


def has_lone_surrogate(text: str) -> bool:
    return bool(_LONE_SURROGATE.search(text))


def clean_text(text: str, *, replace_surrogates: bool = False) -> str:
    """NFKC (full-width and ligature look-alikes become plain letters), invisible and bidi
    characters removed, control characters made spaces. A lone surrogate raises UnsafeText,
    or with `replace_surrogates` becomes U+FFFD (for callers that must take any string)."""
    if has_lone_surrogate(text):
        if not replace_surrogates:
            raise UnsafeText("text contains a lone surrogate (invalid Unicode); send valid UTF-8")
        text = _LONE_SURROGATE.sub("\ufffd", text)
    text = unicodedata.normalize("NFKC", text)
    return _CONTROL.sub(" ", INVISIBLE.sub("", text))


def printable(text: str) -> str:
    """A string safe to echo in an error message, a report or a log line: surrogates, controls
    and line breaks (including the Unicode line and paragraph separators) escaped, so it can
    neither break an encoder nor forge a line."""
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if _LONE_SURROGATE.match(ch) or _CONTROL.match(ch) or ch in "\r\n\u2028\u2029"
        else ch
        for ch in text
    )


def _validated(text: str) -> str:
    try:
        return clean_text(text)
    except UnsafeText as exc:
        raise ValueError(str(exc)) from None


CleanStr = Annotated[str, AfterValidator(_validated)]
"""A request field: rejected (422) with a lone surrogate, otherwise stored clean."""
