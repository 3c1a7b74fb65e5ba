"""Which official EU language a question is written in.

lingua (offline, its models inside the wheel) decides among 23 of the 24 languages, in its
low-accuracy mode: the high-accuracy models take five seconds to load while holding the GIL,
long enough for the API's process supervisor to kill a worker that does not answer its health
check. Letters no other EU language writes settle two cases first: Maltese (ħ, ġ, ċ, 'għ'),
which lingua lacks, and Romanian (ș, ț with a comma below), which the low-accuracy mode
confused with Portuguese and Lithuanian.
Short or mixed questions ("EMN budget 2026?") are English unless lingua is clearly sure of
another language: most of the corpus is English, and an English question answered as if it
were Danish loses its keyword search.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

# The 24 official languages of the EU (ISO 639-1), English first.
EU_LANGUAGES: tuple[str, ...] = (
    "en", "bg", "cs", "da", "de", "el", "es", "et", "fi", "fr", "ga", "hr", "hu", "it", "lt",
    "lv", "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv",
)  # fmt: skip
DEFAULT_LANGUAGE = "en"
_LINGUA_NAMES = {
    "bg": "BULGARIAN", "cs": "CZECH", "da": "DANISH", "de": "GERMAN", "el": "GREEK",
    "en": "ENGLISH", "es": "SPANISH", "et": "ESTONIAN", "fi": "FINNISH", "fr": "FRENCH",
    "ga": "IRISH", "hr": "CROATIAN", "hu": "HUNGARIAN", "it": "ITALIAN", "lt": "LITHUANIAN",
    "lv": "LATVIAN", "nl": "DUTCH", "pl": "POLISH", "pt": "PORTUGUESE", "ro": "ROMANIAN",
    "sk": "SLOVAK", "sl": "SLOVENE", "sv": "SWEDISH",
}  # fmt: skip
_MALTESE = re.compile(r"[ħĦġĠċĊ]|għ|\b(?:il|tal|fil|mill|għall?)-\w", re.I)
_ROMANIAN = re.compile(r"[șțȘȚ]")
_WORDS = re.compile(r"[^\W\d_]{2,}")
# lingua's confidence a non-English guess needs on a question of a few words; longer
# questions need less (chosen on the multilingual dev set, see evals/reports).
MIN_CONFIDENCE = 0.5
SHORT_WORDS = 4


@dataclass(frozen=True)
class Detected:
    language: str
    confidence: float
    runner_up: str = ""  # the second guess when it is close (Czech/Slovak, Croatian/Slovene)


class LanguageDetector:
    def __init__(self) -> None:
        self._detector = None
        self._lock = threading.Lock()

    def _lingua(self):
        with self._lock:
            if self._detector is None:
                from lingua import Language, LanguageDetectorBuilder

                languages = [getattr(Language, n) for n in _LINGUA_NAMES.values()]
                self._detector = (
                    LanguageDetectorBuilder.from_languages(*languages)
                    .with_low_accuracy_mode()
                    .build()
                )
            return self._detector

    def detect(self, text: str) -> Detected:
        words = _WORDS.findall(text)
        if not words:
            return Detected(DEFAULT_LANGUAGE, 1.0)
        if _MALTESE.search(text):
            return Detected("mt", 1.0)
        if _ROMANIAN.search(text):
            return Detected("ro", 1.0)
        values = self._lingua().compute_language_confidence_values(text)
        codes = {v: k for k, v in _LINGUA_NAMES.items()}
        ranked = [(codes[v.language.name], float(v.value)) for v in values]
        if not ranked:
            return Detected(DEFAULT_LANGUAGE, 0.0)
        (best, confidence), *rest = ranked
        runner_up = rest[0][0] if rest and rest[0][1] >= confidence / 2 else ""
        if best == DEFAULT_LANGUAGE:
            return Detected(best, confidence, runner_up)
        needed = MIN_CONFIDENCE if len(words) <= SHORT_WORDS else MIN_CONFIDENCE / 2
        english = dict(ranked).get(DEFAULT_LANGUAGE, 0.0)
        if confidence < needed and english > 0.0:
            return Detected(DEFAULT_LANGUAGE, english, best)
        return Detected(best, confidence, runner_up)


@lru_cache(maxsize=1)
def detector() -> LanguageDetector:
    """One detector per process: lingua's models take seconds and memory to load."""
    return LanguageDetector()


def detect_language(text: str) -> Detected:
    return detector().detect(text)
