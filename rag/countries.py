"""Country names and their adjectives: a question about a named country is answerable only
from passages that mention that country."""

from __future__ import annotations

import re
from functools import lru_cache

from rag.country_names import FIRST_WORD_ONLY, NOT_LOCALISED, load_names, name_pattern

# name -> stems that count as a mention (adjectives included).
COUNTRIES: dict[str, tuple[str, ...]] = {
    "Austria": ("austria",), "Belgium": ("belgi",), "Bulgaria": ("bulgaria",),
    "Croatia": ("croat",), "Cyprus": ("cyprus", "cypriot"), "Czechia": ("czech",),
    "Denmark": ("denmark", "danish"), "Estonia": ("estonia",), "Finland": ("finland", "finnish"),
    "France": ("france", "french"), "Germany": ("german",), "Greece": ("greece", "greek"),
    "Hungary": ("hungar",), "Ireland": ("ireland", "irish"), "Italy": ("italy", "italian"),
    "Latvia": ("latvia",), "Lithuania": ("lithuania",), "Luxembourg": ("luxembourg",),
    "Malta": ("malta", "maltese"), "Netherlands": ("netherlands", "dutch"),
    "Poland": ("poland", "polish"), "Portugal": ("portug",), "Romania": ("romania",),
    "Slovakia": ("slovak",), "Slovenia": ("sloven",), "Spain": ("spain", "spanish"),
    "Sweden": ("sweden", "swedish"), "Norway": ("norw",), "Switzerland": ("switzerland", "swiss"),
    "Iceland": ("iceland",), "Liechtenstein": ("liechtenstein",),
    "United Kingdom": ("united kingdom", "british", " uk "), "Georgia": ("georgia",),
    "Moldova": ("moldova",), "Ukraine": ("ukrain",), "Montenegro": ("montenegr",),
    "Armenia": ("armenia",), "Serbia": ("serbia",), "North Macedonia": ("macedonia",),
    "Albania": ("albania",), "Turkey": ("turkey", "türkiye", "turkish"), "Syria": ("syria",),
    "Afghanistan": ("afghan",), "Iraq": ("iraq",), "Iran": ("iran",), "Pakistan": ("pakistan",),
    "Bangladesh": ("bangladesh",), "India": ("india",), "China": ("china", "chinese"),
    "Morocco": ("morocc",), "Algeria": ("algeria",), "Tunisia": ("tunisia",),
    "Libya": ("libya",), "Egypt": ("egypt",), "Nigeria": ("nigeria",), "Senegal": ("senegal",),
    "Mauritania": ("mauritania",), "Mali": ("mali",), "Niger": ("niger ",),
    "Eritrea": ("eritrea",), "Ethiopia": ("ethiopia",), "Somalia": ("somali",),
    "Sudan": ("sudan",), "Venezuela": ("venezuela",), "Colombia": ("colombia",),
    "Russia": ("russia",), "Belarus": ("belarus",), "Lebanon": ("leban",),
    "Jordan": ("jordan",), "United States": ("united states", "american"),
    "Canada": ("canada", "canadian"), "Australia": ("australia",), "Rwanda": ("rwanda",),
    "Gambia": ("gambia",), "Ghana": ("ghana",), "Kosovo": ("kosov",), "Bosnia": ("bosnia",),
    "Japan": ("japan",), "Brazil": ("brazil",), "South Korea": ("korea",),
    "Mexico": ("mexic",), "Argentina": ("argentin",), "Chile": ("chile",), "Peru": ("peru",),
    "Ecuador": ("ecuador",), "Bolivia": ("bolivia",), "Cuba": ("cuba",), "Haiti": ("haiti",),
    "Honduras": ("hondura",), "Guatemala": ("guatemala",), "El Salvador": ("salvador",),
    "Nicaragua": ("nicaragua",), "Philippines": ("philippin", "filipino"),
    "Indonesia": ("indonesia",), "Vietnam": ("vietnam", "viet nam"), "Thailand": ("thai",),
    "Sri Lanka": ("sri lanka",), "Nepal": ("nepal",), "Myanmar": ("myanmar",),
    "Malaysia": ("malaysia",), "Kenya": ("kenya",), "Uganda": ("uganda",),
    "Tanzania": ("tanzania",), "Congo": ("congo",), "Cameroon": ("cameroon",),
    "Côte d'Ivoire": ("ivoire", "ivory coast"), "Guinea": ("guinea",),
    "Burkina Faso": ("burkina",), "Chad": ("chad ",), "South Sudan": ("south sudan",),
    "Yemen": ("yemen",), "Saudi Arabia": ("saudi",), "United Arab Emirates": ("emirates",),
    "Qatar": ("qatar",), "Israel": ("israel",), "Palestine": ("palestin", "gaza"),
    "Kazakhstan": ("kazakh",), "Uzbekistan": ("uzbek",), "Tajikistan": ("tajik",),
    "Kyrgyzstan": ("kyrgyz",), "Azerbaijan": ("azerbaijan",), "New Zealand": ("new zealand",),
    "South Africa": ("south africa",), "Zimbabwe": ("zimbabwe",), "Angola": ("angola",),
    "Mozambique": ("mozambique",), "Madagascar": ("madagascar",), "Mongolia": ("mongolia",),
    "Cambodia": ("cambodia",), "Sierra Leone": ("sierra leone",), "Liberia": ("liberia",),
}  # fmt: skip


def trie_pattern(words: list[str]) -> str:
    """One regex for many words, as a trie ('ital|iraq|iran' -> 'i(?:ra(?:n|q)|tal)'): the
    engine tries a word's letters once, not every word at every position of a text (a flat
    alternation of 150 stems cost about 1 ms a passage). Where one word extends another,
    the longer one matches, as in an alternation sorted longest first."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, dict]) -> str:
        ends = "" in node
        branches = [re.escape(char) + render(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return render(trie)


# Every stem in one trie, so a text is scanned once, not once per country.
_STEM_TO_COUNTRY = {s.strip(): name for name, stems in COUNTRIES.items() for s in stems}
_ANY_COUNTRY = re.compile(r"\b(?:" + trie_pattern(list(_STEM_TO_COUNTRY)) + ")", re.IGNORECASE)
_NEEDS_SPACE_AFTER = {s.strip() for stems in COUNTRIES.values() for s in stems if s.endswith(" ")}


# In another language an English stem of a few letters often begins an unrelated word
# (Finnish "perustettiin", established, is no mention of Peru): there a short stem counts
# only with a capital and a short ending ("Perussa", in Peru).
SHORT_STEM = 5
SHORT_ENDING = 3
_REST_OF_WORD = re.compile(r"\w*")


def countries_in(text: str, language: str = "en") -> list[str]:
    """The countries `text` names, in the order it names them: by the English stems of
    `COUNTRIES` and, in another language, by that language's names (`language`: the text's,
    also for the rule on short stems). Of two names found at one place, the one spelled out
    further is meant (Spanish "Sudán del Sur" is South Sudan, Slovak "Slovensko" Slovakia)."""
    spans = local_mentions(text, language)
    padded = f" {text} "
    found: list[tuple[int, str]] = [(start, country) for start, _, country in spans]
    for match in _ANY_COUNTRY.finditer(padded):
        stem = match.group(0).lower()
        if stem in _NEEDS_SPACE_AFTER and not padded[match.end() : match.end() + 1].isspace():
            continue  # "niger " is Niger, not Nigeria
        if language != "en" and len(stem) <= SHORT_STEM:
            if not match.group(0)[:1].isupper():
                continue  # Croatian "mali" (small) is no mention of Mali
            ending = _REST_OF_WORD.match(padded, match.end())
            if ending is not None and len(ending.group(0)) > SHORT_ENDING:
                continue
        start = match.start() - 1  # in `text`
        if any(s <= start < e for s, e, _ in spans):
            continue
        found.append((start, _STEM_TO_COUNTRY[stem]))
    return list(dict.fromkeys(country for _, country in sorted(found)))


def local_mentions(text: str, language: str) -> list[tuple[int, int, str]]:
    """(start, end, country) of the names in `language` that `text` holds, the longest stem
    kept where two overlap."""
    candidates = []
    for country, pattern in local_patterns(language):
        for match in pattern.finditer(text):
            if len(match.group("stem")) > SHORT_STEM or len(match.group("end")) <= LOCAL_ENDING:
                spelled = match.start("end") - match.start()
                candidates.append((spelled, match.start(), match.end(), country))
    kept: list[tuple[int, int, str]] = []
    for _, start, end, country in sorted(candidates, key=lambda c: (-c[0], c[1])):
        if all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, country))
    return kept


# A short name in the language's own spelling may take a longer ending than an English stem
# (Finnish "Saksassa", in Germany): its capital letter already tells it from other words.
LOCAL_ENDING = 4


@lru_cache(maxsize=32)
def local_patterns(language: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(country, pattern) for each name of a country in `language` (none for English)."""
    names = load_names().get(language, {})
    patterns = []
    for country, spellings in names.items():
        if country in NOT_LOCALISED:
            continue
        for spelling in spellings:
            pattern = name_pattern(spelling, language, country in FIRST_WORD_ONLY)
            if pattern is not None:
                patterns.append((country, re.compile(pattern)))
    return tuple(patterns)
