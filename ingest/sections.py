"""Section paths from headings: numbering ("4.", "2.1.") decides nesting where markup levels are
inconsistent, as they are in documents converted from PDF."""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.schema import SECTION_SEPARATOR

_NUMBERED = re.compile(r"^((?:\d{1,2}\.)*\d{1,2})\.?\s+\S")
MAX_HEADING_CHARS = 150


@dataclass
class _Heading:
    title: str
    level: int
    depth: int  # numbering depth: "4." -> 1, "2.1." -> 2; 0 when unnumbered
    under_numbered: bool  # an unnumbered sub-heading inside a numbered section


def numbering_depth(title: str) -> int:
    match = _NUMBERED.match(title)
    return len(match.group(1).split(".")) if match else 0


def is_section_heading(title: str) -> bool:
    """Very long 'headings' are title-page sentences, not sections."""
    return 0 < len(title) <= MAX_HEADING_CHARS


def display_title(title: str) -> str:
    """'4. A FIRM, FAIR AND ADAPTABLE ...' -> '4. A firm, fair and adaptable ...'."""
    letters = [c for c in title if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) / len(letters) > 0.8 and len(letters) > 4:
        lowered = title.lower()
        first = next((i for i, c in enumerate(lowered) if c.isalpha()), 0)
        lowered = lowered[:first] + lowered[first].upper() + lowered[first + 1 :]
        for acronym in re.findall(r"\b[A-Z]{2,5}\b", title):
            if acronym in {"EU", "EMN", "AI", "NCP", "NCPS", "AMIF", "UN", "EUAA", "IOM"}:
                lowered = re.sub(rf"\b{acronym.lower()}\b", acronym, lowered)
        return lowered
    return title


class SectionTracker:
    """Feeds headings in reading order; `path` is the current section path."""

    def __init__(self) -> None:
        self._stack: list[_Heading] = []

    def push(self, title: str, level: int) -> None:
        depth = numbering_depth(title)
        stack = self._stack
        if depth:
            while stack and (
                (stack[-1].depth and stack[-1].depth >= depth) or stack[-1].under_numbered
            ):
                stack.pop()
            stack.append(_Heading(title, level, depth, False))
            return
        while stack and not stack[-1].depth and stack[-1].level >= level:
            stack.pop()
        under = any(h.depth for h in stack)
        stack.append(_Heading(title, level, 0, under))

    @property
    def path(self) -> str:
        return SECTION_SEPARATOR.join(display_title(h.title) for h in self._stack)
