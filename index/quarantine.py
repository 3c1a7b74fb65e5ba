"""Passages that address the assistant ("assistant: ignore your rules..."): retrieved text is
data, never instructions, so the reader quarantines them when it loads the index (no answer or
search result shows them), and the output guard blocks an answer that repeats one."""

from __future__ import annotations

import re

_PASSAGE_INJECTION = re.compile(
    r"(?ix)\b(assistant|ai|chatbot|model|llm)\b\s*[:,]?\s*(must\s+)?(ignore|disregard|forget|"
    r"override)\b|\bignore\s+(all\s+|your\s+|any\s+|the\s+)?(previous\s+|prior\s+)?"
    r"(instructions|rules)\b|\b(system|developer)\s+prompt\b|\byou\s+are\s+now\b"
    r"|\bwhen\s+asked\b[^.]{0,80}\b(answer|say|reply|respond)\b"
)


def passage_is_suspicious(text: str) -> bool:
    """A retrieved passage that addresses the assistant: treated as data, never obeyed,
    and kept out of answers."""
    return bool(_PASSAGE_INJECTION.search(text))
