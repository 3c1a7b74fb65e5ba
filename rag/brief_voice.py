"""The brief's voice for quoted sentences: an inform is read on its own, so a sentence lifted
from a source must not lean on the source's flow ("In this respect, ...") or its structure
("(see section 5)"), and must not be a heading or a lead-in ending in a colon.

Only words that carry no claim are removed (a leading discourse opener, a parenthetical
cross-reference), so the cleaned sentence is still a faithful quote: its words are a subset
of the passage's, and verification (rag/verify.py) passes on it as on the original.
"""

from __future__ import annotations

import re

_OPENER_WORDS = (
    r"in\s+(?:this|that)\s+(?:respect|regard|context|sense|vein|light|connection)|"
    r"moreover|furthermore|in\s+addition|additionally|to\s+(?:this|that)\s+end|therefore|thus|"
    r"hence|however|consequently|accordingly|likewise|similarly|at\s+the\s+same\s+time|"
    r"in\s+particular|as\s+such|finally|lastly|indeed|besides|also|overall|in\s+parallel|"
    r"against\s+(?:this|that)\s+background|for\s+(?:this|that)\s+(?:purpose|reason)|"
    r"as\s+a\s+result|nevertheless|nonetheless|meanwhile|first(?:ly)?|second(?:ly)?|"
    r"third(?:ly)?|in\s+short|in\s+sum|notably|importantly|crucially|in\s+turn|equally|"
    r"on\s+the\s+(?:one|other)\s+hand|building\s+on\s+(?:this|that|these)|in\s+this\s+way|"
    r"by\s+the\s+same\s+token|above\s+all|in\s+the\s+same\s+vein|to\s+that\s+effect"
)
# A discourse opener followed by its comma, at the start of a sentence.
OPENER = re.compile(rf"^(?:{_OPENER_WORDS})\s*,\s*", re.I)
# The source's own structure: "section 5", "Chapter 3", "Annex I", "point 2.1", "below".
_PLACE = (
    r"(?:sections?|chapters?|parts?|points?|annex(?:es)?|box|figure|table)\s+"
    r"(?:\d+(?:\.\d+)*|[IVX]+\b)(?:\s*(?:and|,)\s*(?:\d+(?:\.\d+)*|[IVX]+\b))*"
)
_LEAD = (
    r"(?:see(?:\s+also)?|cf\.?|as\s+(?:set\s+out|described|explained|outlined|announced|"
    r"mentioned|noted|discussed|detailed|referred\s+to)\s+(?:in|under))"
)
# "(see section 5)", "(section 5)", "(cf. Chapter 3)", "(see below)"
_PAREN_REF = re.compile(rf"\s*\(\s*(?:{_LEAD}\s+)?(?:{_PLACE}|below|above)\s*\)", re.I)
# ", as set out in Chapter 3," within a sentence, and "As set out in section 5, " leading it.
_COMMA_REF = re.compile(rf",\s*{_LEAD}\s+(?:{_PLACE}|below|above)\s*(?=[,.;:])", re.I)
_LEADING_REF = re.compile(rf"^{_LEAD}\s+(?:{_PLACE}|below|above)\s*,\s*", re.I)
# What remains a reference to the source's structure after cleaning (a claim we do not
# rewrite): reported by `flags`, and avoided when choosing sentences.
STRUCTURE_REF = re.compile(rf"\(\s*{_LEAD}|\b{_LEAD}\s+(?:{_PLACE}|below|above)\b", re.I)
SELF_REFERENCE = re.compile(
    r"\b(?:this|the\s+present)\s+(?:communication|strategy|document|report|decision|annex|"
    r"chapter|section|paper|article)\b",
    re.I,
)
# Words that point at something the brief does not have: a link ("available here"), a list
# or passage around the quote ("stated below", "the above-mentioned objectives").
DANGLING = re.compile(
    r"(?i)\b(?:available|found|listed|shown|set\s+out|stated|described|presented)\s+"
    r"(?:here|below|above)\b|\babove-mentioned\b|\bbelow-mentioned\b|\bclick\s+here\b"
)
# A claim that announces a list ("... is set at EUR 28 200 000 ..., as follows:") ends
# with the claim: the announcing words carry nothing the brief keeps.
_AS_FOLLOWS = re.compile(r"(?i),?\s*(?:as\s+follows|the\s+following)\s*:\s*$")
_LIST_MARKER = re.compile(r"^\s*(?:[-•*]\s|\(?[a-z]{1,3}\)\s|\(?\d{1,2}[.)]\s|[ivx]{1,4}\)\s)")
_NUMBERED_HEADING = re.compile(r"^\s*\d+(?:\.\d+)*\.?\s+[A-Z]")
_TERMINAL = ".!?;:)\"'”’"


def is_heading(raw: str) -> bool:
    """A heading or title line of the source, not a sentence: no closing punctuation, or
    written in capitals, or a numbered heading ("5. More effective return")."""
    line = re.sub(r"[*_#`]", "", raw).strip()
    if not line:
        return True
    letters = [c for c in line if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) / len(letters) > 0.6:
        return True
    if line[-1] not in _TERMINAL and len(line.split()) <= 20:
        return True
    return bool(_NUMBERED_HEADING.match(line) and len(line.split()) <= 12)


def looks_like_title(line: str) -> bool:
    """A drafted line that reads as a title: in capitals, a numbered heading, or short with
    most of its longer words capitalised ("Supporting Returns From Third Countries")."""
    line = re.sub(r"[*_#`]", "", line).strip().rstrip(".")
    letters = [c for c in line if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) / len(letters) > 0.6:
        return True
    if _NUMBERED_HEADING.match(line) and len(line.split()) <= 12:
        return True
    words = [w for w in line.split() if len(w) >= 4 and w[0].isalpha()]
    return (
        len(line.split()) <= 10
        and len(words) >= 2
        and (sum(w[0].isupper() for w in words) / len(words) > 0.85)
    )


def strip_openers(sentence: str) -> str:
    """'In this respect, improved cooperation ...' -> 'Improved cooperation ...'."""
    out = sentence
    while True:
        cleaned = OPENER.sub("", out, count=1)
        cleaned = _LEADING_REF.sub("", cleaned, count=1)
        if cleaned == out:
            break
        out = cleaned
    if out != sentence and out:
        out = out[0].upper() + out[1:]
    return out


def strip_cross_references(sentence: str) -> str:
    """'... staying in the EU (see section 5).' -> '... staying in the EU.'"""
    out = _PAREN_REF.sub("", sentence)
    out = _COMMA_REF.sub("", out)
    return re.sub(r"\s+([.,;:!?])", r"\1", out).strip()


def clean(sentence: str) -> str | None:
    """The sentence in the brief's voice, or None when it cannot stand in a brief (a list
    item, a lead-in ending in a colon, a fragment starting in lower case)."""
    if _LIST_MARKER.match(sentence):
        return None
    out = strip_cross_references(strip_openers(sentence.strip()))
    out = _AS_FOLLOWS.sub(".", out)
    if DANGLING.search(out):
        return None
    if len(out.split()) < 5 or out.endswith(":") or looks_like_title(out):
        return None
    if not (out[0].isupper() or out[0].isdigit() or out[0] in "\"'‘“"):
        return None
    return out


def flags(sentence: str) -> list[str]:
    """What the voice rules object to in a drafted sentence (markers and bullets ignored):
    used by the evaluation and the tests to count sentences that break them."""
    body = re.sub(r"\s*\[\d+\]", "", sentence).strip().removeprefix("- ").strip()
    found = []
    if OPENER.match(body):
        found.append("opener")
    if STRUCTURE_REF.search(body) or _PAREN_REF.search(body):
        found.append("structure reference")
    if body.endswith(":"):
        found.append("colon")
    if DANGLING.search(body):
        found.append("dangling pointer")
    if body and not (body[0].isupper() or body[0].isdigit() or body[0] in "\"'‘“("):
        found.append("lower-case start")
    if looks_like_title(body):
        found.append("heading")
    return found
