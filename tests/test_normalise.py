"""Normalisation used to match gold quotes and key facts (cases taken from the default corpus)."""

from __future__ import annotations

import pytest

from evals.normalise import key_fact_present, normalise, quote_in_passage, tokens


@pytest.mark.parametrize(
    "variant",
    [
        "EUR 28 200 000",
        "EUR 28,200,000",
        "EUR 28\u00a0200\u00a0000",  # no-break spaces
        "EUR 28\u2009200\u2009000",  # thin spaces
        "EUR 28\u202f200\u202f000",  # narrow no-break spaces
        "EUR 28200000",
        "eur   28 200 000",
    ],
)
def test_digit_groups_are_joined(variant: str) -> None:
    assert normalise(variant) == "eur 28200000"


def test_budget_figure_matches_across_formats() -> None:
    source = "is set at EUR 28 200 000 and shall be financed"
    assert quote_in_passage("set at EUR 28,200,000", source)
    assert key_fact_present("28 200 000|28.2 million", "The ceiling is EUR 28,200,000 [1].")
    assert key_fact_present("28 200 000|28.2 million", "about EUR 28.2 million")


def test_decimals_and_separate_numbers_stay_apart() -> None:
    assert normalise("stood at 51.4%, whereas") == "stood at 51.4%, whereas"
    assert normalise("rising to 42.8 % in quarter three") == "rising to 42.8% in quarter three"
    assert normalise("between 2015 and 2024, some 3.9 million") == (
        "between 2015 and 2024, some 3.9 million"
    )
    assert normalise("In 2024 alone, some 438 000 asylum seekers") == (
        "in 2024 alone, some 438000 asylum seekers"
    )
    assert normalise("budget line 10 02 01") == "budget line 10 02 01"
    assert normalise("Articles 10, 110 and 2024, 2025") == "articles 10, 110 and 2024, 2025"
    assert not key_fact_present("51.4%", "the rate was 51%")
    assert not key_fact_present("4%", "it stood at 51.4%")
    assert not key_fact_present("51", "it stood at 51.4%")
    assert key_fact_present("51", "it stood at 51. Then")


def test_numbers_do_not_match_inside_longer_numbers() -> None:
    assert key_fact_present("26%", "figures declined by 26% in 2025")
    assert not key_fact_present("26%", "figures declined by 126%")
    assert not key_fact_present("438 000", "some 4 438 000 people")
    assert key_fact_present("25", "25 Member States submitted")
    assert not key_fact_present("25", "in 2025 alone")


def test_dashes_and_quotes_are_unified() -> None:
    assert normalise("Integration of non-EU nationals – including labour") == normalise(
        "Integration of non-EU nationals - including labour"
    )
    assert normalise("a — b ‑ c − d") == "a - b - c - d"
    assert normalise("for 2026–2027") == normalise("for 2026 - 2027") == "for 2026-2027"
    assert normalise("guidance for “go and see” visits") == 'guidance for "go and see" visits'
    assert normalise("the Union’s «leverage»") == 'the union\'s "leverage"'
    assert normalise("‘return hubs’") == "'return hubs'"


def test_footnote_markers_are_dropped() -> None:
    raw = "a gradual reduction in illegal arrivals since 2023 <sup>(1)</sup>."
    assert normalise(raw) == "a gradual reduction in illegal arrivals since 2023."
    assert quote_in_passage("a gradual reduction in illegal arrivals since 2023.", raw)
    assert normalise("in line with the EU AI Act <sup>(30)</sup>, and") == (
        "in line with the eu ai act, and"
    )
    assert normalise("the Pact for the Mediterranean<sup>(12)</sup>, which") == (
        "the pact for the mediterranean, which"
    )
    assert normalise("in compliance with the AI Act¹ and") == "in compliance with the ai act and"


def test_html_tags_are_removed() -> None:
    assert normalise("<b>TOTAL:</b>\t<b>28 200 000</b>") == "total: 28200000"
    assert normalise("first<br/>second") == "first second"
    assert normalise("see <http://data.europa.eu/eli/reg/2024/2509/oj>") == (
        "see <http://data.europa.eu/eli/reg/2024/2509/oj>"
    )
    assert normalise("Jack &amp; Jill") == "jack & jill"


def test_markdown_emphasis_headings_and_bullets_are_removed() -> None:
    assert normalise("to **reduce illegal migration and improve migration management**.") == (
        "to reduce illegal migration and improve migration management."
    )
    assert normalise("an established *modus operandi* of __smuggling__ _networks_") == (
        "an established modus operandi of smuggling networks"
    )
    assert normalise("### ***Improving readmission by third countries***") == (
        "improving readmission by third countries"
    )
    bullets = "as follows:\n\n- (a) EUR 25 450 000 for 2026;\n- (b) EUR 2 750 000 for 2027."
    assert normalise(bullets) == "as follows: (a) eur 25450000 for 2026; (b) eur 2750000 for 2027."


def test_case_and_whitespace() -> None:
    assert normalise("  The  EMN\n\nSteering\tBoard  ") == "the emn steering board"
    assert normalise("") == ""


def test_tokens() -> None:
    assert tokens("The EU's recognition rate: 51.4% (2026-2027), EUR 28 200 000.") == [
        "the",
        "eu's",
        "recognition",
        "rate",
        "51.4",
        "2026",
        "2027",
        "eur",
        "28200000",
    ]
    assert tokens("<sup>(6)</sup> — **") == []


def test_quote_straddling_a_chunk_boundary() -> None:
    quote = (
        "The EMN will mainly focus on policies and practices for attracting and retaining skills "
        "and talents from non-EU countries, looking also into the main visa difficulties"
    )
    # the chunker cut the sentence after "looking also into"
    first_chunk = (
        "Priorities for the EMN will also reflect Member States' legal migration needs. The EMN "
        "will mainly focus on policies and practices for attracting and retaining skills and "
        "talents from non-EU countries, looking also into"
    )
    second_chunk = "the main visa difficulties experienced by students and researchers"
    unrelated = "The global budgetary envelope reserved for grants is EUR 19 105 100."
    assert normalise(quote) not in normalise(first_chunk)
    assert quote_in_passage(quote, first_chunk)
    assert not quote_in_passage(quote, unrelated)
    assert not quote_in_passage(quote, first_chunk, min_token_share=1.0)
    assert not quote_in_passage(quote, second_chunk)


def test_similar_formulaic_sentence_is_not_the_quote() -> None:
    # the work programme repeats this sentence per envelope; only the figure tells them apart
    grants = (
        "The global budgetary envelope reserved for grants under this work programme is "
        "EUR 19 105 100."
    )
    indirect = (
        "4. Actions implemented in indirect management\n\nThe global budgetary envelope reserved "
        "for actions implemented in indirect management under this work programme is "
        "EUR 2 930 000."
    )
    assert not quote_in_passage(grants, indirect)


def test_footnote_number_left_in_chunk_text() -> None:
    quote = (
        "An additional EUR 3 billion were made available to support Member States in the "
        "necessary reforms for the implementation of the Pact."
    )
    chunk = (
        "An additional EUR 3 billion (35) were made available to support Member States in the "
        "necessary reforms for the implementation of the Pact. Tailored engagement will continue."
    )
    assert quote_in_passage(quote, chunk)


def test_quote_in_passage_exact_match_and_empty_input() -> None:
    passage = (
        "The EMN Steering Board provides strategic guidance on EMN activities. It is chaired "
        "by the European Commission"
    )
    assert quote_in_passage("It is CHAIRED by the European  Commission", passage)
    assert not quote_in_passage("", passage)
    assert not quote_in_passage("<sup>(1)</sup>", passage)


def test_key_fact_alternatives() -> None:
    answer = "Only about a fourth of those ordered to leave actually do so [2]."
    assert key_fact_present("a quarter|a fourth|one in four", answer)
    assert not key_fact_present("a quarter|one in four", answer)
    assert key_fact_present("Ministr", "hosted by Ministries of Interior")
    assert not key_fact_present("  |  ", answer)
    assert key_fact_present("“go and see”", 'guidance on "go and see" visits')
