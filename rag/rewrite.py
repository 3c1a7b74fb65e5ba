"""Follow-up questions rewritten into stand-alone ones from the conversation history.

Rule-based for the extractive default ("and for 2027?" after a question about 2026 becomes
the same question about 2027); the LLM composer may rewrite with its model instead.
"""

from __future__ import annotations

import re

from index.lexical import STOPWORDS
from rag.answer import Turn
from rag.question import YEAR_OR_PERIOD

_LEAD = re.compile(
    r"(?i)^\s*(and|but|also|so|ok(ay)?|then|what\s+about|how\s+about|and\s+what\s+about|"
    r"what\s+of|same\s+(question\s+)?for|and\s+for|and\s+in|and\s+the)\b[\s,]*"
)
_PRONOUN_START = re.compile(r"(?i)^\s*(it|they|them|this|that|these|those|its|their)\b")
_ABOUT = re.compile(r"(?i)^(.*?\b(?:about|on|regarding|concerning|for)\b)\s+(.+?)\s*\??$")
# "When will it be operational?": a question of its own whose pronoun needs the subject.
_QUESTION_START = re.compile(
    r"(?i)^\s*(who|what|when|where|why|how|which|is|are|was|were|does|do|did|can|will|has|have)\b"
)
_PRONOUN = re.compile(r"(?i)\b(it|they|them|its|their)\b")
# "What is the EMN budget for 2026-2027?" -> "the EMN budget for 2026-2027": the question's
# subject once its question word and verb are dropped.
_QUESTION_HEAD = re.compile(
    r"(?i)^\s*(?:what|which|who|how\s+much|how\s+many)\s+(?:is|are|was|were|will\s+be)\s+"
)


def _content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][\w-]+", text.lower()) if w not in STOPWORDS]


def needs_rewrite(question: str) -> bool:
    """Only an elliptical question leans on the history: one that opens with 'and', 'what
    about' or a pronoun, a fragment ('for 2027?'), or a question whose subject is a pronoun
    ('when will it apply?'). A complete question ('what is the EMN budget for 2026-2027?')
    stands alone, whatever was asked before."""
    q = question.strip()
    if _LEAD.match(q) or _PRONOUN_START.match(q):
        return True
    words = _content_words(q)
    if _QUESTION_START.match(q):
        return not words or (bool(_PRONOUN.search(q)) and len(words) <= 3)
    return len(words) <= 2


def rewrite_followup(question: str, history: list[Turn]) -> str:
    """A stand-alone question; unchanged when there is no history or no need."""
    previous = next((t.content for t in reversed(history) if t.role == "user"), "")
    if not previous or not needs_rewrite(question):
        return question
    follow = _LEAD.sub("", question.strip()).strip().rstrip("?").strip()
    if not follow:
        return previous
    follow_years = [m.group(0) for m in YEAR_OR_PERIOD.finditer(follow)]
    prev_years = [m.group(0) for m in YEAR_OR_PERIOD.finditer(previous)]
    if follow_years and prev_years and len(_content_words(YEAR_OR_PERIOD.sub("", follow))) <= 2:
        # "and for 2027?" -> the previous question with its year replaced.
        rewritten = previous
        for old, new in zip(prev_years, follow_years, strict=False):
            rewritten = rewritten.replace(old, new, 1)
        return rewritten
    if _PRONOUN_START.match(follow):
        subject = _topic(previous)
        return _PRONOUN_START.sub(subject, follow, count=1) + "?"
    pronoun = _PRONOUN.search(follow)
    if _QUESTION_START.match(follow) and pronoun and _ABOUT.match(previous):
        subject = _topic(previous)
        if pronoun.group(1).lower() in ("its", "their"):
            subject += "'s"
        return f"{follow[: pronoun.start()]}{subject}{follow[pronoun.end() :]}?"
    match = _ABOUT.match(previous)
    if match and len(_content_words(follow)) <= 4 and not _QUESTION_START.match(follow):
        # "what about return?" after "What does the strategy say about borders?"
        return f"{match.group(1)} {follow}?"
    return f"{follow} ({previous.rstrip('?')})?"


def _topic(question: str) -> str:
    """What a pronoun in the follow-up stands for: what the previous question was about;
    when that is only a year or period ("... budget for 2026-2027"), the whole subject
    ("the EMN budget for 2026-2027"), not the year."""
    match = _ABOUT.match(question)
    if match:
        about = match.group(2).rstrip("?")
        if _content_words(YEAR_OR_PERIOD.sub("", about)):
            return about
        head = _QUESTION_HEAD.match(question)
        if head:
            return question[head.end() :].strip().rstrip("?").strip()
        return about
    words = _content_words(question)
    return " ".join(words[-4:]) if words else "it"
