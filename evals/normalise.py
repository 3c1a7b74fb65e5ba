"""Text normalisation for matching gold quotes and key facts against retrieved text and answers.

Gold quotes are copied from the corpus files (Markdown with HTML footnote markers), while
retrieved chunks and generated answers come out of loaders, chunkers and composers that may
drop emphasis, keep or strip footnote markers, swap typographic quotes and dashes, or print
"28,200,000" where the source says "28 200 000". Normalising both sides the same way lets the
evaluation compare what is said rather than how it was typeset.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher
from functools import lru_cache

__all__ = ["key_fact_present", "normalise", "quote_in_passage", "tokens"]

# Footnote markers: <sup>(1)</sup>, <sup>st</sup>, <sub>2</sub>. The whole element goes (with
# the space before it) so that "since 2023 <sup>(1)</sup>." matches a quote "since 2023.".
_SUP_SUB = re.compile(r"\s*<(sup|sub)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# Other HTML tags (<b>, </td>, <br/>); autolinks such as <http://...> are not tags. Inline tags
# vanish; block tags become a space so that words on either side stay apart.
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)(?:\s[^<>]*)?/?>")
_INLINE_TAGS = frozenset(
    {"a", "abbr", "b", "cite", "code", "em", "i", "mark", "s", "small", "span", "strong", "u"}
)
# Unicode superscript footnote markers (some loaders turn <sup>1</sup> into "¹").
_UNICODE_SUP = re.compile(r"\s*⁽?[⁰¹²³⁴⁵⁶⁷⁸⁹]+⁾?")
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_QUOTES_DASHES = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "′": "'",
        "‹": '"',
        "›": '"',
        "“": '"',
        "”": '"',
        "„": '"',
        "‟": '"',
        "″": '"',
        "«": '"',
        "»": '"',
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "―": "-",
        "−": "-",
    }
)
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+.!|-])")
_MD_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+", re.MULTILINE)
_MD_BULLET = re.compile(r"^[ \t]*[-*+•◦▪][ \t]+", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"[*_]+")
# A 1-3 digit group followed by groups of exactly three digits, each after one space or comma
# (spaces include the no-break and thin spaces, which NFKC has already made plain spaces).
# Lookarounds keep years, decimals ("51.4") and lists ("2024, 2025") apart.
_DIGIT_GROUPS = re.compile(r"(?<![\d.,])(\d{1,3})((?:[ ,]\d{3})+)(?!\d)")
_NUMBER_RANGE = re.compile(r"(?<=\d) ?- ?(?=\d)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)\]%])")
_TOKEN = re.compile(r"\d+(?:\.\d+)*|[^\W\d_]+(?:'[^\W\d_]+)*")


def _drop_tag(match: re.Match[str]) -> str:
    return "" if match.group(1).lower() in _INLINE_TAGS else " "


def _join_digit_groups(match: re.Match[str]) -> str:
    return match.group(1) + re.sub(r"[ ,]", "", match.group(2))


@lru_cache(maxsize=4096)
def normalise(text: str) -> str:
    """Return a canonical form of `text` for substring matching.

    Lower-cased (casefold); whitespace collapsed; Markdown emphasis, headings, bullets and HTML
    tags removed (footnote markers in <sup> with their content); typographic quotes and dashes
    made ASCII, number ranges without spaces ("2026 – 2027" is "2026-2027"); digit groups
    joined ("28 200 000" and "28,200,000" both become "28200000") while decimals such as
    "51.4" stay as they are.
    """
    if not text:
        return ""
    text = _SUP_SUB.sub("", text)
    text = _TAG.sub(_drop_tag, text)
    text = html.unescape(text)
    text = _UNICODE_SUP.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = text.translate(_QUOTES_DASHES)
    text = _MD_ESCAPE.sub(r"\1", text)
    text = _MD_HEADING.sub("", text)
    text = _MD_BULLET.sub("", text)
    text = _MD_EMPHASIS.sub("", text)
    text = " ".join(text.split())
    text = _DIGIT_GROUPS.sub(_join_digit_groups, text)
    text = _NUMBER_RANGE.sub("-", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return text.casefold().strip()


def tokens(text: str) -> list[str]:
    """Word and number tokens of the normalised text, in order (decimals kept whole).

    Punctuation and hyphens split tokens, so "2026-2027" and "2026 - 2027" give the same ones.
    """
    return list(_tokens(text))


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    # cached: an evaluation run compares the same retrieved passages with many quotes
    return tuple(_TOKEN.findall(normalise(text)))


def quote_in_passage(quote: str, passage: str, min_token_share: float = 0.8) -> bool:
    """True when the passage holds the gold quote, or at least `min_token_share` of it.

    Exact containment after normalisation first. Failing that, a chunker may have cut the quote
    across two chunks or formatted it differently (list markers, table cells, a footnote number
    left in the text), so the quote still counts when a single in-order run of its tokens,
    covering at least `min_token_share` of them, occurs in the passage; the run may skip up to
    a few inserted passage tokens. A run rather than a bag of words, because the work
    programme repeats formulaic sentences ("The global budgetary envelope reserved for ... is
    EUR ...") that share most words but not the figure that matters.
    """
    norm_quote = normalise(quote)
    if not norm_quote:
        return False
    if norm_quote in normalise(passage):
        return True
    quote_tokens = _tokens(quote)
    if not quote_tokens:
        return False
    return _longest_run(quote_tokens, _tokens(passage)) / len(quote_tokens) >= min_token_share


_MAX_INSERTED = 3


def _longest_run(quote_tokens: Sequence[str], passage_tokens: Sequence[str]) -> int:
    """Length of the longest in-order run of quote tokens found in the passage.

    Consecutive quote tokens continue a run across at most `_MAX_INSERTED` extra passage
    tokens (e.g. a footnote marker "(35)" kept as text).
    """
    matcher = SequenceMatcher(None, quote_tokens, passage_tokens, autojunk=False)
    best = current = 0
    previous = None
    for block in matcher.get_matching_blocks():
        if not block.size:
            continue
        if (
            previous is not None
            and block.a == previous.a + previous.size
            and 0 <= block.b - (previous.b + previous.size) <= _MAX_INSERTED
        ):
            current += block.size
        else:
            current = block.size
        best = max(best, current)
        previous = block
    return best


def _continues_number(text: str, index: int, step: int) -> bool:
    """Whether text[index] extends a number: a digit, or a decimal point/comma before a digit."""
    if not 0 <= index < len(text):
        return False
    if text[index].isdigit():
        return True
    nxt = index + step
    return text[index] in ".," and 0 <= nxt < len(text) and text[nxt].isdigit()


def _contains(haystack: str, needle: str) -> bool:
    """Substring test in which a number never matches part of a longer one ("26%" in "126%")."""
    start = haystack.find(needle)
    while start != -1:
        end = start + len(needle)
        clash_before = needle[0].isdigit() and _continues_number(haystack, start - 1, -1)
        clash_after = needle[-1].isdigit() and _continues_number(haystack, end, 1)
        if not (clash_before or clash_after):
            return True
        start = haystack.find(needle, start + 1)
    return False


def key_fact_present(key_fact: str, answer: str) -> bool:
    """True when the answer states the key fact, or any of its `|`-separated alternatives.

    Alternatives cover number formats and wording ("28 200 000|28,200,000|28.2 million").
    Matching is a normalised substring test, except that a number may not match inside a
    longer number.
    """
    haystack = normalise(answer)
    alternatives = [normalise(alt) for alt in key_fact.split("|")]
    return any(alt and _contains(haystack, alt) for alt in alternatives)
