"""The countries of `rag.countries` by their names in the other 23 official EU languages, so
that "Wie viele Asylanträge wurden 2024 in Deutschland gestellt?" names Germany as "...in
Germany in 2024?" does (a question about a country the passages never mention is abstained
on, in every language).

The names are the Unicode CLDR's (through Babel), written once to `country_names.json` by
`python -m rag.country_names`; Babel is needed only for that (a development dependency), and
a test fails when the file and Babel differ. `rag.countries` turns each name into a pattern
that takes the language's endings ("in Polen", "w Niemczech", "Saksassa").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from common.language import EU_LANGUAGES

NAMES_FILE = Path(__file__).with_name("country_names.json")

# ISO 3166 codes of `rag.countries.COUNTRIES` (two codes where the name covers two states).
ISO_CODES: dict[str, tuple[str, ...]] = {
    "Austria": ("AT",), "Belgium": ("BE",), "Bulgaria": ("BG",), "Croatia": ("HR",),
    "Cyprus": ("CY",), "Czechia": ("CZ",), "Denmark": ("DK",), "Estonia": ("EE",),
    "Finland": ("FI",), "France": ("FR",), "Germany": ("DE",), "Greece": ("GR",),
    "Hungary": ("HU",), "Ireland": ("IE",), "Italy": ("IT",), "Latvia": ("LV",),
    "Lithuania": ("LT",), "Luxembourg": ("LU",), "Malta": ("MT",), "Netherlands": ("NL",),
    "Poland": ("PL",), "Portugal": ("PT",), "Romania": ("RO",), "Slovakia": ("SK",),
    "Slovenia": ("SI",), "Spain": ("ES",), "Sweden": ("SE",), "Norway": ("NO",),
    "Switzerland": ("CH",), "Iceland": ("IS",), "Liechtenstein": ("LI",),
    "United Kingdom": ("GB",), "Georgia": ("GE",), "Moldova": ("MD",), "Ukraine": ("UA",),
    "Montenegro": ("ME",), "Armenia": ("AM",), "Serbia": ("RS",), "North Macedonia": ("MK",),
    "Albania": ("AL",), "Turkey": ("TR",), "Syria": ("SY",), "Afghanistan": ("AF",),
    "Iraq": ("IQ",), "Iran": ("IR",), "Pakistan": ("PK",), "Bangladesh": ("BD",),
    "India": ("IN",), "China": ("CN",), "Morocco": ("MA",), "Algeria": ("DZ",),
    "Tunisia": ("TN",), "Libya": ("LY",), "Egypt": ("EG",), "Nigeria": ("NG",),
    "Senegal": ("SN",), "Mauritania": ("MR",), "Mali": ("ML",), "Niger": ("NE",),
    "Eritrea": ("ER",), "Ethiopia": ("ET",), "Somalia": ("SO",), "Sudan": ("SD",),
    "Venezuela": ("VE",), "Colombia": ("CO",), "Russia": ("RU",), "Belarus": ("BY",),
    "Lebanon": ("LB",), "Jordan": ("JO",), "United States": ("US",), "Canada": ("CA",),
    "Australia": ("AU",), "Rwanda": ("RW",), "Gambia": ("GM",), "Ghana": ("GH",),
    "Kosovo": ("XK",), "Bosnia": ("BA",), "Japan": ("JP",), "Brazil": ("BR",),
    "South Korea": ("KR",), "Mexico": ("MX",), "Argentina": ("AR",), "Chile": ("CL",),
    "Peru": ("PE",), "Ecuador": ("EC",), "Bolivia": ("BO",), "Cuba": ("CU",), "Haiti": ("HT",),
    "Honduras": ("HN",), "Guatemala": ("GT",), "El Salvador": ("SV",), "Nicaragua": ("NI",),
    "Philippines": ("PH",), "Indonesia": ("ID",), "Vietnam": ("VN",), "Thailand": ("TH",),
    "Sri Lanka": ("LK",), "Nepal": ("NP",), "Myanmar": ("MM",), "Malaysia": ("MY",),
    "Kenya": ("KE",), "Uganda": ("UG",), "Tanzania": ("TZ",), "Congo": ("CD", "CG"),
    "Cameroon": ("CM",), "Côte d'Ivoire": ("CI",), "Guinea": ("GN",), "Burkina Faso": ("BF",),
    "Chad": ("TD",), "South Sudan": ("SS",), "Yemen": ("YE",), "Saudi Arabia": ("SA",),
    "United Arab Emirates": ("AE",), "Qatar": ("QA",), "Israel": ("IL",), "Palestine": ("PS",),
    "Kazakhstan": ("KZ",), "Uzbekistan": ("UZ",), "Tajikistan": ("TJ",),
    "Kyrgyzstan": ("KG",), "Azerbaijan": ("AZ",), "New Zealand": ("NZ",),
    "South Africa": ("ZA",), "Zimbabwe": ("ZW",), "Angola": ("AO",), "Mozambique": ("MZ",),
    "Madagascar": ("MG",), "Mongolia": ("MN",), "Cambodia": ("KH",),
    "Sierra Leone": ("SL",), "Liberia": ("LR",),
}  # fmt: skip


def cldr_names() -> dict[str, dict[str, list[str]]]:
    """language -> country -> its CLDR names in that language (needs Babel)."""
    from babel import Locale

    names: dict[str, dict[str, list[str]]] = {}
    for code in EU_LANGUAGES:
        if code == "en":
            continue
        territories = Locale.parse(code).territories
        names[code] = {
            country: list(dict.fromkeys(territories[iso] for iso in codes))
            for country, codes in ISO_CODES.items()
        }
    return names


def load_names(path: Path = NAMES_FILE) -> dict[str, dict[str, list[str]]]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_names(path: Path = NAMES_FILE) -> None:
    text = json.dumps(cldr_names(), ensure_ascii=False, indent=1, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


# --- From a name to the pattern of its mentions ----------------------------------------------

# Names of two states found by their first word ("Bosnien und Herzegowina"); the Congos'
# names share no word that says which one is meant, so they are left to the English stem.
FIRST_WORD_ONLY = {"Bosnia"}
NOT_LOCALISED = {"Congo"}
# What a name carries that its mentions need not: a parenthesis ("Myanmar (Burma)").
_TAIL = re.compile(r"\s*\(.*$")
_VOWEL_END = re.compile(r"[aeiouyáéíóúýàèìòùâêîôûäëïöüãõåæøāēīōūėęąųαεηιουωάέήίόύώаеиоуыэюяъь]$")
# Irish marks a noun's first letter after a preposition or the article: eclipsis ("i
# nGearmáin", "i bPolainn"), lenition ("sa Ghearmáin"), t- and h- ("an tSiria", "na hÉireann").
_IRISH_PREFIX = r"(?:bh|n-|t-|h-|[mgndbth])?"
_LENITABLE = "BCDFGMPST"


def word_stem(word: str) -> str:
    """The letters of a name's word that its inflected forms keep: a word of eight letters or
    more less its last two ("Vereinigtes" -> "Vereinigt": "im Vereinigten"), a shorter one
    of five letters or more less a final vowel ("Saksa" -> "Saks": "Saksassa"). Cutting
    more would let one name catch another ("Schwe" of "Schweiz" is in "Schweden")."""
    if len(word) > 7:
        return word[:-2]
    if len(word) > 4 and _VOWEL_END.search(word.lower()):
        return word[:-1]
    return word


def name_pattern(name: str, language: str, first_word_only: bool = False) -> str | None:
    """A regex for the mentions of a country by its CLDR `name` in `language`: the name's
    first letter as written (a capital: "mali", small in Croatian, is not Mali), then each
    word's stem and any ending ("Polen", "w Niemczech", "Saksassa"). The last word's stem is
    the group `stem`, its ending `end`. None when nothing is left to match."""
    words = _TAIL.sub("", name).replace("-", " ").replace("–", " ").split()
    while len(words) > 1 and not any(c.isupper() for c in words[0]):
        words.pop(0)  # an article: "an", "il", "l'"
    if not words or not any(c.isupper() for c in words[0]):
        return None
    first = words[0]
    words[0] = first[next(i for i, c in enumerate(first) if c.isupper()) :]  # "tSiria"
    if language == "ga" and len(words[0]) > 2 and words[0][1] == "h" and words[0][0] in _LENITABLE:
        words[0] = words[0][0] + words[0][2:]  # "Ghearmáin" -> "Gearmáin"
    if first_word_only:
        words = words[:1]
    parts = []
    for i, word in enumerate(words):
        stem = word_stem(word)
        body = re.escape(stem[1:])
        if language == "pl" and stem.lower().endswith("k"):
            body = re.escape(stem[1:-1]) + "[kc]"  # "Polska", "w Polsce"
        head = re.escape(stem[0])
        if i == 0 and language == "ga":
            head = _IRISH_PREFIX + head + ("h?" if stem[0] in _LENITABLE else "")
        elif i > 0:
            head = f"(?i:{head})"
        parts.append(f"{head}(?i:{body})")
    *leading, last = parts
    return (
        r"(?<!\w)"
        + "".join(f"{p}\\w*[\\s-]+" for p in leading)
        + (f"(?P<stem>{last})(?P<end>\\w*)")
    )


if __name__ == "__main__":
    write_names()
    print(f"wrote {NAMES_FILE}")
