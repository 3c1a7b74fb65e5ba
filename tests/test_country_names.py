"""Countries named in the other official languages (`rag/country_names.py`,
`rag/countries.py`): a question about a country the passages never mention is abstained on
in every language, so each language must find the country in its own words."""

from __future__ import annotations

import json

import pytest

from common.language import EU_LANGUAGES
from rag.countries import COUNTRIES, countries_in
from rag.country_names import ISO_CODES, NAMES_FILE, NOT_LOCALISED, cldr_names, name_pattern


def test_the_shipped_names_are_babels_for_every_language_and_country() -> None:
    shipped = json.loads(NAMES_FILE.read_text(encoding="utf-8"))
    assert shipped == cldr_names(), "run `python -m rag.country_names` to rewrite the file"
    assert set(shipped) == set(EU_LANGUAGES) - {"en"}
    assert set(ISO_CODES) == set(COUNTRIES)


@pytest.mark.parametrize(
    ("text", "code", "countries"),
    [
        ("Wie viele Asylerstanträge wurden 2024 in Deutschland gestellt?", "de", ["Germany"]),
        ("Ile wniosków złożono w Polsce w 2024 r.?", "pl", ["Poland"]),  # k -> c
        ("Moje zezwolenie na pobyt w Niemczech wygasa", "pl", ["Germany"]),
        ("Oleskelulupani Saksassa päättyy ensi kuussa", "fi", ["Germany"]),  # a long ending
        ("Minu elamisluba Saksamaal lõpeb", "et", ["Germany"]),
        ("Hány kérelmet nyújtottak be Magyarországon?", "hu", ["Hungary"]),
        ("Koliko je radnika dobilo dozvolu u Hrvatskoj 2024. godine?", "hr", ["Croatia"]),
        ("Kiek prašymų Lietuvoje pateikta 2024 m.?", "lt", ["Lithuania"]),
        ("Cik pieteikumu Latvijā tika iesniegti?", "lv", ["Latvia"]),
        ("Πόσες αιτήσεις υποβλήθηκαν στην Ελλάδα το 2024;", "el", ["Greece"]),
        ("Колко молби са подадени в България през 2024 г.?", "bg", ["Bulgaria"]),
        ("Kemm applikazzjonijiet saru fil-Ġermanja?", "mt", ["Germany"]),
        ("Rachaidh mo chead cónaithe sa Ghearmáin in éag", "ga", ["Germany"]),  # lenition
        ("agus i bPolainn", "ga", ["Poland"]),  # eclipsis
        ("Tá cosaint agam sa tSualainn", "ga", ["Sweden"]),
        (
            "im Vereinigten Königreich, in den Vereinigten Staaten",
            "de",
            ["United Kingdom", "United States"],
        ),
        ("¿Cuántas solicitudes se presentaron en España en 2024?", "es", ["Spain"]),
        ("Combien de demandes en Allemagne et en France ?", "fr", ["Germany", "France"]),
    ],
)
def test_a_country_is_found_by_its_name_in_the_questions_language(
    text: str, code: str, countries: list[str]
) -> None:
    assert countries_in(text, code) == countries


@pytest.mark.parametrize(
    ("text", "code", "countries"),
    [
        ("Koliki je mali broj zahtjeva?", "hr", []),  # "mali", small
        ("una salsa de chile picante", "es", []),  # the pepper
        ("Ich habe in Schweden subsidiären Schutz.", "de", ["Sweden"]),  # not Schweiz
        ("Som z Ukrajiny a na Slovensku mám dočasné útočisko.", "sk", ["Ukraine", "Slovakia"]),
        ("Sudán del Sur y Sudán", "es", ["South Sudan", "Sudan"]),
        ("Valko-Venäjä ja Venäjä", "fi", ["Belarus", "Russia"]),
        ("Nigeria und Niger", "de", ["Nigeria", "Niger"]),
        ("Ausztrália és Ausztria", "hu", ["Australia", "Austria"]),
    ],
)
def test_a_small_word_or_a_longer_name_is_not_taken_for_a_country(
    text: str, code: str, countries: list[str]
) -> None:
    assert countries_in(text, code) == countries


def test_english_text_is_read_by_the_english_stems_alone() -> None:
    # "Polen" is German for Poland, not an English mention of it.
    assert countries_in("Polen and Deutschland", "en") == []
    assert countries_in("Migrants from Iraq, Nigeria and Niger ", "en") == [
        "Iraq",
        "Nigeria",
        "Niger",
    ]


@pytest.mark.parametrize("code", [c for c in EU_LANGUAGES if c != "en"])
def test_every_name_of_every_language_finds_itself(code: str) -> None:
    # Each CLDR name, as written, is a mention of its country (article, mutation and all).
    names = json.loads(NAMES_FILE.read_text(encoding="utf-8"))[code]
    for country, spellings in names.items():
        if country in NOT_LOCALISED:  # left to the English stem (the Congos)
            continue
        for spelling in spellings:
            assert name_pattern(spelling, code) is not None, spelling
            assert country in countries_in(spelling, code), (code, country, spelling)
