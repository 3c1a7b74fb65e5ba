"""Plain messages for request validation errors: what a user sees instead of pydantic's
("String should match pattern '\\S'", "Input should be a valid dictionary or object to extract
fields from"). One rule per error type, phrased with the field's name; never the submitted
value (it may hold personal data), only limits and allowed values from the schema."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from common.hygiene import printable

# The texts a user types (top-level fields): empty, blank or only invisible characters.
EMPTY = {
    "question": "The question is empty.",
    "query": "The search text is empty.",
    "topic": "The topic is empty.",
}
FILTER_KEYS = ("doc_ids", "kinds", "date_from", "date_to")
_SOURCES = ("body", "query", "path", "header", "cookie")  # where FastAPI found the field
# Patterns that say what they want better in words.
_PATTERNS = {
    "trace_id": "a trace id as returned with an answer (letters, digits, '-' and '_')",
    "date_from": "a date written YYYY-MM-DD",
    "date_to": "a date written YYYY-MM-DD",
}


def field_path(loc: Sequence[Any]) -> str:
    """'filters.kinds[0]' for ('body', 'filters', 'kinds', 0); '' for the body itself."""
    out = ""
    if loc and loc[0] in _SOURCES:
        loc = loc[1:]
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + printable(str(part))[:100]
    return out


def _field(loc: Sequence[Any]) -> str:
    """The last named part of the location ('kinds' for filters.kinds[0])."""
    names = [str(p) for p in loc if not isinstance(p, int)]
    return names[-1] if names else ""


def plain_message(error: Mapping[str, Any]) -> str:
    """One sentence for one pydantic error (as in `RequestValidationError.errors()`)."""
    kind = str(error.get("type", ""))
    loc = tuple(error.get("loc", ()))
    ctx = error.get("ctx") or {}
    where = field_path(loc)
    name = _field(loc)
    if not where:
        if kind == "missing":
            return "The request body is missing: send a JSON object."
        if kind in ("model_attributes_type", "dict_type", "model_type"):
            return 'The body must be a JSON object (for example {"question": "..."}).'
    if where in EMPTY and (
        kind in ("string_pattern_mismatch", "string_too_short")
        or (kind == "value_error" and "empty" in str(error.get("msg", "")))
    ):
        return EMPTY[where]
    if kind == "extra_forbidden":
        parent = _field(loc[:-1])
        if parent == "filters":
            return (
                f"Unknown filter {printable(str(loc[-1]))[:100]!r}; the filters are "
                + ", ".join(FILTER_KEYS)
                + "."
            )
        return f"Unknown field {where!r}."
    if kind == "missing":
        return f"The field {where!r} is missing."
    if kind == "string_too_long":
        return f"{where} is longer than {ctx.get('max_length')} characters."
    if kind == "string_too_short":
        return f"{where} is empty."
    if kind == "too_long":
        return f"{where} has more than {ctx.get('max_length')} items."
    if kind == "too_short":
        least = ctx.get("min_length")
        return f"{where} must have at least {least} item{'s' if least != 1 else ''}."
    if kind == "string_pattern_mismatch":
        wanted = _PATTERNS.get(name, f"text matching {ctx.get('pattern')!s}")
        return f"{where} must be {wanted}."
    if kind in ("literal_error", "enum"):
        return f"{where} must be {ctx.get('expected')}."
    if kind == "string_type":
        return f"{where} must be a string."
    if kind in ("bool_type", "bool_parsing"):
        return f"{where} must be true or false (JSON booleans)."
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{where} must be a whole number."
    if kind in ("float_type", "float_parsing"):
        return f"{where} must be a number."
    if kind in ("list_type", "tuple_type", "set_type"):
        return f"{where} must be a list."
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        return f"{where} must be a JSON object."
    bounds = {
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{where} must be {words} {ctx.get(key)}."
    message = printable(str(error.get("msg", "invalid")))[:300].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
