"""What the assistant writes itself (declines, abstentions, the AI disclosure, inform headings,
the chat page's notice and labels), in each official EU language: one file per language,
`common/locales/<code>.json`, with the same keys as `en.json`.

Quoted passages are never translated: they stay verbatim in the document's language.
A key missing from a language falls back to English, so a new text never shows up blank.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from common.language import DEFAULT_LANGUAGE, EU_LANGUAGES

LOCALE_DIR = Path(__file__).with_name("locales")


@lru_cache(maxsize=32)
def _load(code: str) -> dict[str, dict[str, str]]:
    path = LOCALE_DIR / f"{code}.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def available_languages() -> list[str]:
    """The languages with a locale file, English first, in EU_LANGUAGES order."""
    return [code for code in EU_LANGUAGES if (LOCALE_DIR / f"{code}.json").is_file()]


def language_name(code: str) -> str:
    """The language's own name ('Français'), for pickers."""
    return _load(code).get("language", {}).get("name") or code


def text(code: str, section: str, key: str, **values: object) -> str:
    """The text `section.key` in language `code` (English when that language lacks it),
    with its {placeholders} filled."""
    template = _load(code).get(section, {}).get(key) if code else None
    if not template:
        template = _load(DEFAULT_LANGUAGE)[section][key]
    return template.format(**values) if values else template


class Texts:
    """The texts of one language, for code that writes several of them."""

    def __init__(self, code: str = DEFAULT_LANGUAGE) -> None:
        self.code = code if code in EU_LANGUAGES else DEFAULT_LANGUAGE

    def message(self, key: str, **values: object) -> str:
        return text(self.code, "messages", key, **values)

    def inform(self, key: str, **values: object) -> str:
        return text(self.code, "inform", key, **values)

    def ui(self, key: str, **values: object) -> str:
        return text(self.code, "ui", key, **values)
