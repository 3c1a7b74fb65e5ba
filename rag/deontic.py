"""Modal polarity for the contradiction check: what a clause obliges, permits or forbids.

A negation rule sees 'not' but not that 'there is no obligation to admit' and 'Member States
are obliged to admit' disagree, or that 'shall not postpone' and 'may not delay' agree. Each
modal expression is read as one of four deontic values, attached to the verb it governs:

- obligation: 'must', 'shall', 'should', 'have to', 'are obliged/required to', 'it is
  necessary for ... to', 'the obligation ... to';
- permission: 'may', 'can', 'are allowed/permitted/entitled/able to', and a
  prohibition with an exception ('shall not ... unless', 'may only');
- prohibition: 'must/shall/may/should not', 'cannot', 'are prohibited from', 'not allowed to';
- no obligation: 'need not', 'does not have to', 'are not obliged/required to', 'it is not
  necessary', 'there is no obligation'.

Obligation contradicts prohibition and no obligation; permission contradicts prohibition.
Obligation against permission is no contradiction (legal paraphrases trade 'shall' and 'may'
too often), nor is no obligation against prohibition or permission.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


def _words(text: str) -> list[str]:
    return text.split()


OBLIGATION = "obligation"
PERMISSION = "permission"
PROHIBITION = "prohibition"
NO_OBLIGATION = "no obligation"
CONFLICTS = frozenset(
    {
        frozenset({OBLIGATION, PROHIBITION}),
        frozenset({OBLIGATION, NO_OBLIGATION}),
        frozenset({PERMISSION, PROHIBITION}),
    }
)

_MODAL_VERBS = {"must": OBLIGATION, "shall": OBLIGATION, "should": OBLIGATION}
_MODAL_VERBS |= {"may": PERMISSION, "can": PERMISSION, "could": PERMISSION}
# Words that take 'to' + verb: obliged to, allowed to, prohibited from, necessary for ... to.
_TAKES_TO = {
    **dict.fromkeys(
        _words(
            "obliged required bound compelled obligation obligations duty necessary mandatory "
            "compulsory essential"
        ),
        OBLIGATION,
    ),
    "unable": PROHIBITION,
    **dict.fromkeys(_words("allowed permitted entitled able authorised authorized"), PERMISSION),
    **dict.fromkeys(_words("prohibited forbidden barred precluded"), PROHIBITION),
}
_NEGATED = {
    OBLIGATION: NO_OBLIGATION,
    PERMISSION: PROHIBITION,
    PROHIBITION: PERMISSION,
    NO_OBLIGATION: OBLIGATION,
}
NEGATIONS = frozenset({"not", "no", "never", "without", "neither", "nor"})
# Participles take 'to' or 'from' right after them ('bound by' states no duty).
_RIGHT_AFTER = frozenset(
    _words(
        "obliged required bound compelled allowed permitted entitled able unable authorised "
        "authorized prohibited forbidden barred precluded"
    )
)
# Words between a modal and its verb, or between a negation and what it negates.
_SKIP = frozenset(
    _words(
        "be been being is are was were have has had also only still further therefore however "
        "thus then always in any case the a an there longer , nevertheless"
    )
)
_EXCEPTIONS = frozenset(_words("unless except save other than only"))  # not 'where': a condition
_CLAUSE_END = frozenset(";:")
_CONDITIONS = frozenset(_words("where if when as"))  # 'where necessary': no obligation stated


class Tok(Protocol):
    word: str
    stem: str
    pos: int

    @property
    def content(self) -> bool: ...


@dataclass(frozen=True)
class Modal:
    value: str  # obligation, permission, prohibition, no obligation
    verbs: frozenset[str]  # the stems (or lexicon concepts) of the verbs it governs
    pos: int
    phrase: str  # as written, for the reason shown to the user


def _negated_before(toks: Sequence[Tok], i: int) -> bool:
    """'not obliged', 'is not, however, necessary', 'no obligation', 'no longer obliged'."""
    for t in reversed(toks[max(0, i - 5) : i]):
        if t.word in NEGATIONS:
            return True
        if t.word not in _SKIP:
            return False
    return False


def _negated_after(toks: Sequence[Tok], i: int) -> tuple[bool, int]:
    """'shall not', 'may no longer', 'can never': (negated, index after the negation)."""
    j = i + 1
    while j < len(toks) and toks[j].word in {"also", "therefore", "however", ",", "in", "any"}:
        j += 1
    if j < len(toks) and toks[j].word in NEGATIONS:
        return True, j + 1
    return False, i + 1


def _first_verb(toks: Sequence[Tok], j: int, key: _Key) -> frozenset[str]:
    for t in toks[j : j + 6]:
        if t.word in _CLAUSE_END or t.word in {"to", "from", "for", "of", "that"}:
            break
        if t.word not in _SKIP and (k := key(t)):
            return frozenset({k})
    return frozenset()


def _verbs_after_to(toks: Sequence[Tok], j: int, key: _Key) -> frozenset[str]:
    """Every verb after a 'to' or 'from' within the clause: 'necessary for the amount granted
    to applicants to be the same' -> {applicants, same}."""
    out = set()
    for k in range(j, min(len(toks), j + 12)):
        if toks[k].word in _CLAUSE_END:
            break
        if toks[k].word in {"to", "from"}:
            out |= _first_verb(toks, k + 1, key)
    return frozenset(out)


class _Key(Protocol):
    def __call__(self, t: Tok) -> str: ...


def _restricted(toks: Sequence[Tok], j: int) -> bool:
    """An exception later in the clause: 'shall not be detained unless ...'."""
    for t in toks[j : j + 14]:
        if t.word in _CLAUSE_END:
            return False
        if t.word in _EXCEPTIONS:
            return True
    return False


def modals(toks: Sequence[Tok], key: _Key) -> list[Modal]:
    """The deontic expressions of a sentence, each with the verbs it governs. `key` maps a
    token to what is compared (a stem, or a concept shared by synonyms; '' for a word that
    names no action)."""
    out = []
    for i, t in enumerate(toks):
        value = None
        if t.word in _MODAL_VERBS:
            value = _MODAL_VERBS[t.word]
            negated, j = _negated_after(toks, i)
            if negated:
                value = PROHIBITION
                if _restricted(toks, j):
                    value = PERMISSION
            elif j < len(toks) and toks[j].word == "only":
                value = PERMISSION  # 'may only', 'shall only': permitted on a condition
            verbs = _first_verb(toks, j, key)
        elif t.word in {"need", "needs"} and i + 1 < len(toks) and toks[i + 1].word == "not":
            value, verbs = NO_OBLIGATION, _first_verb(toks, i + 2, key)
        elif t.word in {"have", "has"} and i + 1 < len(toks) and toks[i + 1].word == "to":
            value = NO_OBLIGATION if _negated_before(toks, i) else OBLIGATION
            verbs = _first_verb(toks, i + 2, key)
        elif t.word in _TAKES_TO and not (i and toks[i - 1].word in _CONDITIONS):
            value = _TAKES_TO[t.word]
            if _negated_before(toks, i):
                value = _NEGATED[value]
            if t.word in _RIGHT_AFTER:
                after = toks[i + 1].word if i + 1 < len(toks) else ""
                verbs = _first_verb(toks, i + 2, key) if after in {"to", "from"} else frozenset()
            else:
                verbs = _verbs_after_to(toks, i + 1, key)
        if value is None:
            continue
        if verbs:
            out.append(Modal(value, verbs, t.pos, t.word))
    return out


def modal_conflict(claim: list[Modal], passage: list[Modal]) -> tuple[Modal, Modal] | None:
    """A claim's modal against the passage's on the same verb, when every passage modal on
    that verb has a value it contradicts."""
    for c in claim:
        same = [p for p in passage if p.verbs & c.verbs]
        if same and all(frozenset({c.value, p.value}) in CONFLICTS for p in same):
            return c, same[0]
    return None
