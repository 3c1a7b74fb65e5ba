"""Personal data redaction: runs before anything is logged or stored (audit log, feedback).

Rules, not a model: predictable, fast, and auditable. Each match becomes a typed placeholder
such as [EMAIL] so a reviewer still sees what kind of data was there. Text derived from a
question (rewritten, depersonalised) may have lost the cues the rules key on, so
`redact_derived` also scrubs the values found in the question itself.
"""

from __future__ import annotations

import re

from index.schema import Filters

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    # "amina [at] example [dot] org"
    (
        "EMAIL",
        re.compile(
            r"(?i)\b[\w.+-]+\s*[\[(]\s*at\s*[\])]\s*[\w-]+(?:\s*[\[(]\s*dot\s*[\])]\s*[\w-]+)+"
        ),
    ),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")),
    # Typed in lower case, but introduced as an IBAN.
    (
        "IBAN",
        re.compile(
            r"(?i)\biban\b(?:\s+(?:number|no\.?))?(?:\s+(?:is|was))?\s*[:#]?\s*"
            r"(?P<value>[a-z]{2}\d{2}(?:[ ]?[a-z0-9]{4}){2,7}(?:[ ]?[a-z0-9]{1,4})?)\b"
        ),
    ),
    (
        "DATE_OF_BIRTH",
        re.compile(
            r"(?i)\b(?:born(?: on)?|date of birth|d\.o\.b\.?|dob)(?:\s+(?:is|was))?[:\s]+"
            r"(?P<value>\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2} \w+ \d{4}"
            r"|\d{4}[./]\d{1,2}[./]\d{1,2}|[A-Za-z]+\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}"
            r"|\d{1,2}(?:st|nd|rd|th)? of \w+,? \d{4})"
        ),
    ),
    (
        "DOCUMENT_NUMBER",
        re.compile(
            r"(?i)\b(?:passport|id card|identity card|residence permit|residence card|permit|visa|"
            r"case|file|application|reference|ref\.?|national insurance|social security|bsn|"
            r"alien registration|registration|national id|personal id(?:entification)?|"
            r"personal number|tax id|id)(?![a-z])"
            r"\s*(?:number|no\.?|nr\.?|#)?\s*(?:is\s+|was\s+)?[:#]?\s*"
            r"(?P<value>(?=[A-Z0-9/-]*\d)[A-Z0-9][A-Z0-9/-]{5,})\b"
        ),
    ),
    # Phone numbers start with + , 00 or a national trunk 0; amounts such as "28 200 000"
    # and ranges such as "2026-2027" do not.
    ("PHONE", re.compile(r"(?<![\w/+])(?:\+|0)\d[\d ()./-]{6,}\d(?![\w/])")),
    (
        "PHONE",
        re.compile(
            r"(?i)\b(?:phone|telephone|tel|mobile|cell(?:phone)?|whatsapp|signal)\b"
            r"(?:\s+(?:number|no\.?|nr\.?))?(?:\s+(?:is|was))?\s*[:.]?\s*"
            r"(?P<value>\+?\d[\d ()./-]{5,}\d)(?![\w/])"
        ),
    ),
    (
        "NAME",
        re.compile(
            r"(?i:\b(?P<lead>my name is|my name['’]s|i am called|i['’]m called|name:|i['’]m|"
            r"i am)\s+)"
            r"(?P<name>[^\W\d_]+(?:['’-][^\W\d_]+)*(?:\s+[^\W\d_]+(?:['’-][^\W\d_]+)*){0,3})"
        ),
    ),
]

# Words that follow "I am"/"I'm" and are not names.
_NOT_NAMES = {
    "A", "An", "The", "From", "In", "On", "At", "Not", "Afraid", "Worried", "Married", "Asking",
    "Seeking", "Applying", "Living", "Working", "Staying", "Trying", "Currently", "Also",
    "Ukrainian", "Syrian", "Afghan", "Eritrean", "Nigerian", "Turkish", "Moroccan", "Here",
}  # fmt: skip


_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
# After "my name is" a name may be typed in lower case; these words end it.
_NAME_STOP = {
    "and", "from", "i", "im", "born", "my", "in", "of", "with", "who", "but", "living", "live",
    "the", "a", "an", "is", "was", "at", "on", "to", "for", "or", "am", "have", "had",
    "please", "can", "could", "would", "will", "what", "how", "when", "where", "why", "do",
}  # fmt: skip
_STRONG_LEADS = ("my name is", "my name's", "i am called", "i'm called", "name:")


def _redact_name(match: re.Match[str]) -> str:
    """The name after the lead-in becomes [NAME]: capitalised words after "I am"/"I'm"
    (not "I am Ukrainian"), any words up to a function word after "my name is"."""
    base = match.start(0)
    words = [(w.start() + match.start("name"), w.end() + match.start("name"), w.group())
             for w in _WORD.finditer(match.group("name"))]  # fmt: skip
    lead = " ".join(match.group("lead").lower().replace("’", "'").split())
    strong = lead in _STRONG_LEADS
    first = words[0][2]
    if first in _NOT_NAMES or first.lower() in _NAME_STOP:
        return match.group(0)
    if not first[0].isupper() and not strong:
        return match.group(0)
    taken = 1
    for _, _, word in words[1:]:
        if word[0].isupper() or (strong and not first[0].isupper() and word not in _NAME_STOP):
            taken += 1
        else:
            break
    text = match.group(0)
    return text[: words[0][0] - base] + "[NAME]" + text[words[taken - 1][1] - base :]


def redact(text: str) -> str:
    """Text with personal data replaced by [EMAIL], [PHONE], [IBAN], [DOCUMENT_NUMBER],
    [DATE_OF_BIRTH] and [NAME] placeholders."""
    for label, pattern in _PATTERNS:
        if label == "NAME":
            text = pattern.sub(_redact_name, text)
        elif "value" in pattern.groupindex:
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


# The placeholders `redact` writes: [EMAIL], [PHONE], ...
_LABELS = "|".join(dict.fromkeys(label for label, _ in _PATTERNS))
_PLACEHOLDER = re.compile(rf"\[({_LABELS})\]")


def personal_values(text: str) -> list[tuple[str, str]]:
    """(kind, value) of each piece of personal data that `redact` replaces in `text`."""
    redacted = redact(text)
    if redacted == text:
        return []
    parts = _PLACEHOLDER.split(redacted)  # literal, kind, literal, kind, ..., literal
    literals, kinds = parts[0::2], parts[1::2]
    match = re.fullmatch("(.+?)".join(re.escape(lit) for lit in literals), text, re.DOTALL)
    if match is None:  # the text itself held a placeholder: redaction alone is applied
        return []
    return [(kind, value.strip()) for kind, value in zip(kinds, match.groups(), strict=True)]


def redact_derived(text: str, sources: list[str]) -> str:
    """`text` redacted, and every personal value found in `sources` (which `text` was
    derived from) replaced by its placeholder as well."""
    out = redact(text)
    values = {value: kind for source in sources for kind, value in personal_values(source)}
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 3:
            out = out.replace(value, f"[{values[value]}]")
    return out


def redacted_filters(filters: Filters | None) -> Filters | None:
    """Filters as recorded: free-text values (document ids, kinds) are caller input too."""
    if filters is None or filters.is_empty():
        return None
    return filters.model_copy(
        update={
            "doc_ids": [redact(d) for d in filters.doc_ids],
            "kinds": [redact(k) for k in filters.kinds],
        }
    )
