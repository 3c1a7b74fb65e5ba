"""Comparatives against the passage's own figures, for the contradiction check.

'Beneficiaries of subsidiary protection receive a longer permit than refugees' shares every
word with 'at least three years for refugees and at least one year for beneficiaries of
subsidiary protection', and no word is negated: only the figures say it is false. The claim's
comparison ('X longer/more/further ... than Y') is checked against the two figures the
passage gives, each in its own segment of one sentence ('... three years for refugees' and
'one year for subsidiary protection'), told apart by the words only one segment has. A
comparison where the passage says 'the same ... as' the compared group is false whatever the
figures ('stricter conditions than nationals' against 'the same conditions as nationals').
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


def _words(text: str) -> list[str]:
    return text.split()


# Comparative -> direction: the first group has more (+1) or less (-1) than the second; 0 for
# comparatives of quality ('under stricter conditions than nationals'), checked against
# 'the same ... as' only.
COMPARATIVES = {
    **dict.fromkeys(
        _words("more longer greater higher larger bigger further earlier sooner heavier"), 1
    ),
    **dict.fromkeys(_words("less fewer shorter lower smaller later lighter"), -1),
    **dict.fromkeys(
        _words(
            "stricter easier harder better worse broader narrower wider stronger weaker faster "
            "slower cheaper tighter looser"
        ),
        0,
    ),
}
EQUALS = frozenset(_words("same identical equal equivalent"))
# Days per unit, so that 'two days' and 'one week' compare.
UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "quarter": 91, "year": 365, "decade": 3650}
_SEGMENT_BREAKS = frozenset(_words("; : , and while whereas but"))


class Tok(Protocol):
    word: str
    stem: str
    pos: int
    number: float | None
    percent: bool

    @property
    def content(self) -> bool: ...


def _segments(toks: Sequence[Tok]) -> list[list[Tok]]:
    out: list[list[Tok]] = [[]]
    for i, t in enumerate(toks):
        if t.word in _SEGMENT_BREAKS or (i and t.pos - toks[i - 1].pos > 1):
            out.append([])
        else:
            out[-1].append(t)
    return [s for s in out if s]


def _figure(segment: list[Tok], units: dict[str, str]) -> float | None:
    """The one figure of a segment, in days when it has a unit ('one week' -> 7)."""
    values = []
    for i, t in enumerate(segment):
        if t.number is None:
            continue
        unit = units.get(segment[i + 1].word) if i + 1 < len(segment) else None
        values.append(t.number * UNIT_DAYS[unit] if unit in UNIT_DAYS else t.number)
    return values[0] if len(values) == 1 else None


def _words(segment: list[Tok]) -> set[str]:
    return {t.stem for t in segment if t.content}


def comparison_conflict(
    claim: Sequence[Tok], passage: Sequence[Tok], units: dict[str, str]
) -> str | None:
    """Why the claim's 'X <comparative> than Y' is false by the passage's figures, or None."""
    words = [t.word for t in claim]
    for i, word in enumerate(words):
        direction = COMPARATIVES.get(word)
        if direction is None or "than" not in words[i + 1 : i + 8]:
            continue
        than = words.index("than", i + 1)
        if any(t.number is not None for t in claim[than + 1 : than + 3]):
            continue  # 'more than two months': a bound on one figure, not two groups compared
        after = {t.stem for t in claim[than + 1 :] if t.content}
        if same := _said_equal(passage, after):
            return f"'{word} than' where the passage says '{same} ... as'"
        if direction == 0:
            continue
        before = {t.stem for t in claim[:i] if t.content}
        figured = [(s, v) for s in _segments(passage) if (v := _figure(s, units)) is not None]
        if len(figured) < 2:
            return None
        for (seg_y, y), (seg_x, x) in ((a, b) for a in figured for b in figured if a is not b):
            only_y, only_x = _words(seg_y) - _words(seg_x), _words(seg_x) - _words(seg_y)
            if not (only_y & after) or only_x & after or not (only_x & before):
                continue
            if (x - y) * direction <= 0:
                return f"'{word}' than the passage's figures allow ({x:g} against {y:g})"
    return None


def _said_equal(passage: Sequence[Tok], compared: set[str]) -> str | None:
    """'the same eligibility conditions as nationals': the word saying so, when what follows
    'as' is what the claim compares with."""
    for i, t in enumerate(passage):
        if t.word not in EQUALS:
            continue
        ahead = passage[i + 1 : i + 8]
        at = next((k for k, u in enumerate(ahead) if u.word == "as"), None)
        if at is not None and {u.stem for u in ahead[at + 1 : at + 4] if u.content} & compared:
            return t.word
    return None
