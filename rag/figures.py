"""Figures as values, so that a faithful rewording of a number is not taken for an invented
one: 'EUR 28.2 million' is 28 200 000, '30,000' is '30 000', '12 per cent' is '12 %', 'three'
is 3, 'a third' is 1/3. The verifier's figure check compares values, not digit strings."""

from __future__ import annotations

import re

from index.lexical import join_digit_groups
from rag.contradiction import FRACTIONS, NUMBER_WORDS

__all__ = ["figure_values", "has_figure", "missing_figures", "numbers_in"]

SCALES = {"thousand": 1e3, "million": 1e6, "millions": 1e6, "billion": 1e9, "billions": 1e9}
WORDS = NUMBER_WORDS | {"twice": 2.0}
_FIGURE = re.compile(
    r"(?<![\w.])(\d+(?:[.,]\d+)*)(?:\s*(thousand|millions?|billions?|bn|m)\b|(?!\w))", re.IGNORECASE
)
_WORD = re.compile(
    r"\b(?:(a|one|two|three)\s+(" + "|".join(FRACTIONS) + r")|(" + "|".join(WORDS) + r"))\b",
    re.IGNORECASE,
)


_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")


def numbers_in(text: str) -> list[str]:
    """Figures as digit strings: '28 200 000' -> '28200000', '51.4' stays, years kept."""
    return [n.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", n) else n
            for n in _NUMBER.findall(join_digit_groups(text))]  # fmt: skip


def _value(digits: str) -> float | None:
    if re.fullmatch(r"\d{1,3}(,\d{3})+", digits):
        digits = digits.replace(",", "")
    try:
        return float(digits.replace(",", "."))
    except ValueError:
        return None


def figure_values(text: str, words: bool = True) -> list[tuple[str, tuple[float, ...]]]:
    """(figure as typed, the values it may stand for) for every figure: '28.2 million' is
    28.2 or 28 200 000; with `words`, numbers in words too ('three', 'a third')."""
    text = join_digit_groups(text)
    out = []
    for m in _FIGURE.finditer(text):
        value = _value(m.group(1))
        if value is None:
            continue
        scale = (m.group(2) or "").lower()
        factor = {"bn": 1e9, "m": 1e6}.get(scale) or SCALES.get(scale, 1.0)
        out.append((m.group(1), (value, value * factor) if factor != 1.0 else (value,)))
    if words:
        for m in _WORD.finditer(text):
            if m.group(2):
                num = WORDS.get(m.group(1).lower(), 1.0)
                out.append((m.group(0), (num / FRACTIONS[m.group(2).lower()],)))
            else:
                out.append((m.group(0), (WORDS[m.group(3).lower()],)))
    return out


def has_figure(values: tuple[float, ...], text: str) -> bool:
    """One of `values` is a figure of `text` (up to rounding: 28.2 million = 28 200 000)."""
    have = [v for _, vs in figure_values(text) for v in vs]
    return any(abs(x - v) <= 1e-9 * max(abs(v), 1.0) for x in values for v in have)


def missing_figures(sentence: str, texts: list[str]) -> list[str]:
    """The figures of `sentence` (in digits) that none of `texts` holds, as typed."""
    return [
        typed
        for typed, values in figure_values(sentence, words=False)
        if not any(has_figure(values, text) for text in texts)
    ]
