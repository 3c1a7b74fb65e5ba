"""Personal data redaction: runs before anything is logged or stored (audit log, feedback).

Rules, not a model: predictable, fast, and auditable. Each match becomes a typed placeholder
such as [EMAIL] so a reviewer still sees what kind of data was there.
"""

from __future__ import annotations

import re

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")),
    (
        "DATE_OF_BIRTH",
        re.compile(
            r"(?i)\b(?:born(?: on)?|date of birth|d\.o\.b\.?|dob)[:\s]+"
            r"(?P<value>\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2} \w+ \d{4})"
        ),
    ),
    (
        "DOCUMENT_NUMBER",
        re.compile(
            r"(?i)\b(?:passport|id card|identity card|residence permit|permit|visa|case|file|"
            r"application|reference|ref\.?)\s*(?:number|no\.?|nr\.?|#)?\s*[:#]?\s*"
            r"(?P<value>(?=[A-Z0-9/-]*\d)[A-Z0-9][A-Z0-9/-]{5,})\b"
        ),
    ),
    # Phone numbers start with + , 00 or a national trunk 0; amounts such as "28 200 000"
    # and ranges such as "2026-2027" do not.
    ("PHONE", re.compile(r"(?<![\w/+])(?:\+|0)\d[\d ()./-]{6,}\d(?![\w/])")),
    (
        "NAME",
        re.compile(
            r"(?i:\b(?:my name is|i am called|name:|i'm|i am)\s+)"
            r"([A-Z][a-zà-ÿ'-]+(?:\s+[A-Z][a-zà-ÿ'-]+){0,3})"
        ),
    ),
]

# Words that follow "I am"/"I'm" and are not names.
_NOT_NAMES = {
    "A", "An", "The", "From", "In", "On", "At", "Not", "Afraid", "Worried", "Married", "Asking",
    "Seeking", "Applying", "Living", "Working", "Staying", "Trying", "Currently", "Also",
    "Ukrainian", "Syrian", "Afghan", "Eritrean", "Nigerian", "Turkish", "Moroccan", "Here",
}  # fmt: skip


def _redact_name(match: re.Match[str]) -> str:
    name = match.group(1)
    if name.split()[0] in _NOT_NAMES:
        return match.group(0)
    return match.group(0)[: match.start(1) - match.start(0)] + "[NAME]"


def redact(text: str) -> str:
    """Text with personal data replaced by [EMAIL], [PHONE], [IBAN], [DOCUMENT_NUMBER],
    [DATE_OF_BIRTH] and [NAME] placeholders."""
    for label, pattern in _PATTERNS:
        if label == "NAME":
            text = pattern.sub(_redact_name, text)
        elif label in ("DOCUMENT_NUMBER", "DATE_OF_BIRTH"):
            text = pattern.sub(lambda m, lab=label: _replace_value(m, lab), text)
        else:
            text = pattern.sub(f"[{label}]", text)
    return text


def _replace_value(match: re.Match[str], label: str) -> str:
    """'passport number X1234567' -> 'passport number [DOCUMENT_NUMBER]' (the kind stays)."""
    start = match.start("value") - match.start(0)
    return match.group(0)[:start] + f"[{label}]"


def contains_pii(text: str) -> bool:
    return redact(text) != text
