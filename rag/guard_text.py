"""The text a guard reads: cleaned first, and for the attack checks also de-obfuscated.

An instruction can hide from a rule behind characters a reader does not see or does not
notice: zero-width and bidi characters, full-width letters (both handled by
`common.hygiene.clean_text`), letters spaced out or separated by dots or hyphens
("i.g.n.o.r.e"), and Cyrillic or Greek letters that look like Latin ones ("іgnоrе"). The
attack checks (injection, fabrication) read every view of `attack_views`; the other checks
read the cleaned text only, because folding look-alikes would garble the Greek and Cyrillic
questions those checks must understand.
"""

from __future__ import annotations

import re
import unicodedata

from common.hygiene import clean_text

# Cyrillic and Greek letters drawn like Latin ones (the common confusables of Unicode's
# confusables.txt for these scripts), mapped to the Latin letter they imitate.
CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "һ": "h", "ɡ": "g", "ѵ": "v",
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
        "С": "C", "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "Ԁ": "D",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w",
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
        "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    }
)  # fmt: skip
# Three or more single letters, each after one or two separators ("i g n o r e",
# "i.g.n.o.r.e", "i-g-n-o-r-e"); two separators in a row are a gap between words.
_SEP = r"[ .\-_*·•|/+~]"
_LETTER = r"[^\W\d_](?![^\W\d_])"
_SPACED = re.compile(rf"(?<![^\W\d_]){_LETTER}(?:{_SEP}{{1,2}}{_LETTER}){{2,}}")


def guard_clean(text: str) -> str:
    """`clean_text` that never raises: a lone surrogate (no valid text holds one) becomes
    U+FFFD, so the library path answers whatever a caller passes."""
    return clean_text(text, replace_surrogates=True)


def _unspaced(text: str) -> str:
    def join(match: re.Match[str]) -> str:
        words = re.split(rf"{_SEP}{{2,}}", match.group(0))
        return " ".join(re.sub(_SEP, "", w) for w in words)

    return _SPACED.sub(join, text)


def folded(text: str) -> str:
    """Look-alike letters as the Latin ones they imitate, accents dropped."""
    text = unicodedata.normalize("NFKD", text.translate(CONFUSABLES))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def attack_views(text: str) -> tuple[str, ...]:
    """The cleaned text, its look-alikes folded, and that with spaced-out letters joined:
    an attack check that matches any of them matches."""
    clean = guard_clean(text)
    fold = folded(clean)
    views = [clean]
    for view in (fold, _unspaced(fold)):
        if view not in views:
            views.append(view)
    return tuple(views)
