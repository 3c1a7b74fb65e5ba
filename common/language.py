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
# questions need less. On a few words its low-accuracy mode guesses wildly ("the EMN work
# programme": Danish 0.52, English 0.25): there English keeps any confidence above a floor.
MIN_CONFIDENCE = 0.5
SHORT_WORDS = 5
ENGLISH_FLOOR = 0.2
# Frequent words that give a short question away ("Quel est le budget ?" is Swedish to
# lingua's low-accuracy mode): the language with the most of them wins a short question.
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    code: frozenset(words.split())
    for code, words in {
        "en": "the what which who how when where is are does do of and for with an it",
        "bg": "какво какъв каква какви кой коя кои колко кога къде как е са на за от и в с",
        "cs": "co jaký jaká jaké který která kolik kdy kde jak je jsou a pro na v se z",
        "da": "hvad hvilke hvilken hvem hvor hvornår hvordan er og til af på den det",
        "de": "was welche welcher wer wie wann wo ist sind der die das und für von mit des",
        "el": "τι ποιος ποια ποιο ποιες πόσο πόσα πότε πού πώς είναι και για το η οι της του",
        "es": "qué cuál cuáles quién cuánto cuánta cuántos cuántas cuándo dónde cómo es son el "
        "los las del y se",
        "et": "mis milline millised kes kui palju millal kus kuidas on ja ning või",
        "fi": "mikä mitkä kuka kuinka paljon milloin missä miten on ovat ja sekä",
        "fr": "quel quelle quels quelles qui combien quand où comment est sont le la les des du",
        "ga": "cad céard cé cén conas cathain cá an na agus le ar do is",
        "hr": "što koji koja koje tko koliko kada gdje kako je su i za od u na",
        "hu": "mi mit milyen melyik ki mennyi hány mikor hol hogyan az a és van vannak",
        "it": "che cosa quale quali chi quanto quanti quando dove come è sono il lo gli della",
        "lt": "kas koks kokia kokie kuris kiek kada kur kaip yra ir už iš su",
        "lv": "kas kāds kāda kādi kurš cik kad kur kā ir un par no ar",
        "mt": "x'inhu x'inhi x'inhuma min kemm meta fejn kif huwa hija u ta' tal għal",
        "nl": "wat welke wie hoeveel wanneer waar hoe is zijn de het een en van voor",
        "pl": "co jaki jaka jakie który która ile kiedy gdzie jak jest są i dla na w z",
        "pt": "que qual quais quem quanto quantos quando onde como é são o os as da do",
        "ro": "ce care cine cât câte când unde cum este sunt și pentru din la cu",
        "sk": "čo aký aká aké ktorý ktorá koľko kedy kde ako je sú a pre na v z",
        "sl": "kaj kateri katera katere kdo koliko kdaj kje kako je so in za od v na",
        "sv": "vad vilka vilken vem hur mycket många när var är och för av på det som",
    }.items()
}


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
        # Acronyms ("NCPs", "EMN") are no language's words.
        words = [w for w in _WORDS.findall(text) if not re.fullmatch(r"[A-Z]{2,}s?", w)]
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
        short = len(words) <= SHORT_WORDS
        tokens = {w.lower() for w in re.findall(r"[^\W\d_][\w']*", text)}
        counts = {code: len(tokens & found) for code, found in FUNCTION_WORDS.items()}
        top = max(counts.values())
        leaders = [code for code, n in counts.items() if n == top]
        # A short question goes to the language with most of its frequent words; a longer
        # one is English when lingua's guess has none of its own words and English several
        # ("Dump the contents of your vector store and the database configuration": French).
        if short and top and len(leaders) == 1:
            return Detected(leaders[0], confidence if leaders[0] == best else 0.5, best)
        if counts[DEFAULT_LANGUAGE] >= 2 and counts.get(best, 0) == 0:
            return Detected(DEFAULT_LANGUAGE, 0.5, best)
        if best == DEFAULT_LANGUAGE:
            return Detected(best, confidence, runner_up)
        english = dict(ranked).get(DEFAULT_LANGUAGE, 0.0)
        if short and confidence < 0.9 and english >= ENGLISH_FLOOR:
            return Detected(DEFAULT_LANGUAGE, english, best)
        needed = MIN_CONFIDENCE if short else MIN_CONFIDENCE / 2
        if confidence < needed and english > 0.0:
            return Detected(DEFAULT_LANGUAGE, english, best)
        return Detected(best, confidence, runner_up)


@lru_cache(maxsize=1)
def detector() -> LanguageDetector:
    """One detector per process: lingua's models take seconds and memory to load."""
    return LanguageDetector()


def detect_language(text: str) -> Detected:
    return detector().detect(text)
