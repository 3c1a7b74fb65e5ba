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
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

GLOSSARY_DIR = Path(__file__).with_name("glossaries")
# Numbers, years, periods, references and acronyms travel across languages unchanged.
_INVARIANT = re.compile(r"\b\d[\d\s.,/–-]*\d\b|\b\d\b|\b[A-Z]{2,}[A-Za-z]*\b|\b[A-Z]\(\d{4}\)")


# The fewest letters a stem must spell out to count as one part of a compound.
MIN_COMPOUND_PART = 4
# Regex syntax that is not a letter the stem spells out: wildcards, boundaries, groups.
_OPTIONAL = re.compile(r"\((?:\?:)?[^()]*\)[?*]")  # an optional group spells out nothing
_SYNTAX = re.compile(r"\\[wsbdWSBD][*+?]?|\[[^\]]*\]|[()?:|*+{}\d,^$\\.-]")


def specificity(stem: str) -> int:
    """How many letters a stem pattern spells out ('finanzhilfe\\w*' 11, '\\w*hilfe\\w*' 5):
    of two terms matching the same words, the one spelled out further is the meant one."""
    required = _OPTIONAL.sub("", stem)
    return len(_SYNTAX.sub("", required)) + len(re.findall(r"\[[^\]]*\]", required))


def literal(stem: str, letter_classes: bool = True) -> str | None:
    """The longest run of letters every match of a stem contains, case-folded and without
    accents ('hilfe' for '\\w*hilfe\\w*', 'κρατ' for 'κρ[αά]τ(?:...)': a class of one
    letter's accented forms is that letter), or None when the stem promises none (a
    top-level alternative, or nothing but syntax). A question without it cannot match the
    stem, so the stem's pattern need not be compiled or run for that question: compiling
    every language's 1,400 terms took about 9 s of a host's start. Greek stems spell most
    vowels as such classes; while a class ended the run, nearly every Greek term was a
    candidate for every question (784 of 1,313), and a Greek question took 36 ms here
    (the first in a process 674 ms, compiling them). `letter_classes=False`: such a class
    ends the run and accents stay (the letters `Glossary.anchors` places a stem by)."""
    runs, run, i = [], "", 0
    while i < len(stem):
        char = stem[i]
        if char == "|":
            return None
        if letter_classes and char == "[" and (accented := _one_letter_class(stem, i)):
            char, after = accented  # read as that letter, quantifier and all: the letter
            i = after - 1  # path below steps past it
        if char == "\\" or char in "[(.^$":
            if char == "\\":  # one character however it is spelled ('\\u012b' is 'ī')
                kind = stem[i + 1]
                if kind == "N":
                    i = stem.index("}", i) + 1
                else:
                    i += {"x": 4, "u": 6, "U": 10}.get(kind, 2)
            elif char == "[":
                i = stem.index("]", i + 2) + 1  # ']' right after '[' is a member
            elif char == "(":
                depth = 0
                while True:  # to the matching ')', past escapes and classes
                    c = stem[i]
                    if c == "\\":
                        i += 1
                    elif c == "[":
                        i = stem.index("]", i + 2)
                    elif c == "(":
                        depth += 1
                    elif c == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    i += 1
                i += 1
            else:
                i += 1
            runs.append(run)
            run = ""
            i = _past_quantifier(stem, i)
            continue
        i += 1
        if i < len(stem) and stem[i] in "?*{":  # this letter is optional
            runs.append(run)
            run = ""
            i = _past_quantifier(stem, i)
        elif i < len(stem) and stem[i] == "+":  # required once, then repeated
            runs.append(run + char)
            run = ""
            i += 1
        else:
            run += char
    runs.append(run)
    best = max(runs, key=len)
    return (plain(best) if letter_classes else fold(best)) or None


def _one_letter_class(stem: str, start: int) -> tuple[str, int] | None:
    """A character class at `start` that holds one letter's forms only ('[αά]', '[υύϋΰ]'):
    that letter without accents, and where the class ends; None for any other class."""
    end = stem.index("]", start + 2)  # ']' right after '[' is a member
    members = stem[start + 1 : end]
    if members.startswith("^") or "\\" in members or "-" in members:
        return None
    letters = {plain(m) for m in members}
    if len(letters) != 1:
        return None
    letter = letters.pop()
    return (letter, end + 1) if len(letter) == 1 and letter.isalpha() else None


def fold(text: str) -> str:
    """Case-folded as `re.IGNORECASE` compares letters (it also takes dotless 'ı' for 'i')."""
    return text.casefold().replace("ı", "i")


def plain(text: str) -> str:
    """Case-folded and without accents: what a stem's letters (`literal`) are compared in."""
    decomposed = unicodedata.normalize("NFD", fold(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _past_quantifier(stem: str, i: int) -> int:
    if i < len(stem) and stem[i] == "{":
        i = stem.index("}", i) + 1
    elif i < len(stem) and stem[i] in "?*+":
        i += 1
    if i < len(stem) and stem[i] in "?+":  # lazy or possessive
        i += 1
    return i


@dataclass(frozen=True)
class Glossary:
    """A language's terms. A term's pattern is compiled the first time a question holds one
    of its stems' letters (`literals`), not when the glossary loads. `anchors`: the letters
    that place a stem inside a compound (`english_terms`), read as before accented letter
    classes counted as letters, so that which parts a compound says stays as it was."""

    code: str
    stems: dict[str, tuple[str, ...]]  # per English term, in the documents' frequency order
    literals: dict[str, tuple[str | None, ...]] = field(init=False, compare=False, repr=False)
    anchors: dict[str, tuple[str | None, ...]] = field(init=False, compare=False, repr=False)
    _patterns: dict[str, re.Pattern[str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        literals = {term: tuple(map(literal, stems)) for term, stems in self.stems.items()}
        anchors = {
            term: tuple(literal(s, letter_classes=False) for s in stems)
            for term, stems in self.stems.items()
        }
        object.__setattr__(self, "literals", literals)
        object.__setattr__(self, "anchors", anchors)

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(self.stems)

    def pattern(self, term: str) -> re.Pattern[str]:
        """The term's stems as one pattern, compiled once."""
        compiled = self._patterns.get(term)
        if compiled is None:
            stems = "|".join(f"(?:{s})" for s in self.stems[term])
            try:
                compiled = re.compile(r"(?<!\w)(?:" + stems + ")", re.I)
            except re.error as exc:
                raise ValueError(f"rag/glossaries/{self.code}.json: {term!r}: {exc}") from exc
            self._patterns[term] = compiled
        return compiled

    def candidates(self, question: str) -> list[tuple[int, str]]:
        """The terms whose stems' letters the question holds, with their place in the
        glossary's order."""
        folded = plain(question)
        return [
            (order, term)
            for order, (term, literals) in enumerate(self.literals.items())
            if any(lit is None or lit in folded for lit in literals)
        ]

    def _longest(self, term: str, question: str, start: int, words: str) -> tuple[int, int, int]:
        """The longest of the term's stems at `start`, how much of it that stem spells out,
        and where in the question that stem's letters (`anchors`) stand (-1: unknown): the
        combined pattern stops at the first stem that matches ('riscontro' before 'riscontro
        positivo')."""
        found = []
        for (n, stem), letters in zip(
            map(_stem, self.stems.get(term, ())), self.anchors.get(term, ()), strict=True
        ):
            if m := stem.match(question, start):
                at = fold(m.group(0)).find(letters) if letters else -1
                found.append((len(m.group(0)), n, start + at if at >= 0 else -1))
        return max(found, default=(len(words), 0, -1))

    def english_terms(self, question: str) -> list[str]:
        """The English terms the question expresses, in the order they appear in it. One
        term per stretch of the question: where several match the same words ('Arbeit' is
        'work' and 'labour'; 'Arbeitsprogramm' also 'work programme'), the longest match
        wins, then the stem that spells out more of it ('Finanzhilfen' is 'grants' by
        'finanzhilfe', not 'assistance' by '-hilfe'), then the term with more words, then
        the one more frequent in the documents (earlier in terms.txt); synonyms would only
        blur the query. A compound says two things when two terms' letters stand side by
        side in it ('Talentpartnerschaften': 'talent' and 'partnerships'): then both
        count."""
        found: list[tuple[int, int, int, int, int, str, tuple[int, int]]] = []
        for order, term in self.candidates(question):
            for match in self.pattern(term).finditer(question):
                length, spelled, at = self._longest(term, question, match.start(), match.group(0))
                core = (at, at + spelled) if at >= 0 and spelled >= MIN_COMPOUND_PART else (0, 0)
                found.append((match.start(), -length, -spelled, -len(term.split()), order,
                              term, core))  # fmt: skip
        kept: list[tuple[int, int, tuple[int, int], str]] = []
        for start, negative_length, _, _, _, term, core in sorted(found):
            end = start - negative_length
            inside = [k for k in kept if start >= k[0] and end <= k[1]]
            if inside and not (
                core[1] > core[0]
                and all(k[2][1] > k[2][0] and _one_word(question[k[0] : k[1]]) for k in inside)
                and not any(core[0] < k[2][1] and k[2][0] < core[1] for k in inside)
            ):
                continue  # inside a longer match already kept (or the same one)
            kept.append((start, end, core, term))
        return list(dict.fromkeys(term for _, _, _, term in kept))


def _one_word(text: str) -> bool:
    """A compound, not a phrase: the parts of "Réseau européen des migrations" are no more
    than the term it names."""
    return not any(c.isspace() for c in text)


@lru_cache(maxsize=32)
def glossary(code: str) -> Glossary | None:
    path = GLOSSARY_DIR / f"{code}.json"
    if code == "en" or not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return build_glossary(code, data.get("terms", {}))


def build_glossary(code: str, terms: dict[str, list[str]]) -> Glossary:
    """A glossary from {English term: stems}, in the order of the documents' frequency."""
    return Glossary(code, {term: tuple(s) for term, s in terms.items() if s})


@lru_cache(maxsize=8192)
def _stem(stem: str) -> tuple[int, re.Pattern[str]]:
    """A stem on its own, compiled when a question first matches its term (to tell which
    of the term's stems matched)."""
    return specificity(stem), re.compile(stem, re.I)


def preload() -> None:
    """Load every language's glossary now (its terms' letters; the patterns compile as
    questions need them)."""
    for path in sorted(GLOSSARY_DIR.glob("*.json")):
        glossary(path.stem)


def english_keywords(question: str, language: str) -> str:
    """The question as English keywords ('' for English or when nothing is recognised):
    glossary terms plus the question's numbers, years and acronyms."""
    words = glossary(language)
    if words is None:
        return ""
    terms = words.english_terms(question)
    invariant = [m.group(0) for m in _INVARIANT.finditer(question)]
    return " ".join(dict.fromkeys([*terms, *invariant]))
