"""Country names and their adjectives: a question about a named country is answerable only
from passages that mention that country."""

from __future__ import annotations

import re

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

_PATTERNS = {
    name: re.compile("|".join(re.escape(s.strip()) for s in stems), re.IGNORECASE)
    for name, stems in COUNTRIES.items()
}


def countries_in(text: str) -> list[str]:
    padded = f" {text} "
    return [name for name, pattern in _PATTERNS.items() if pattern.search(padded)]
