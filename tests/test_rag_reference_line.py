"""A sentence that only names a document (a footnote's act title, a cover note's file line)
is told apart from one that states something about it. Sentences from the corpus."""

from __future__ import annotations

import pytest

from rag.reference_line import is_reference_line

NAMES_ONLY = [
    # Footnotes of the Commission's strategy citing acts by their titles.
    "Article 8 of the Regulation (EU) 2024/1351 of the European Parliament and of the Council "
    "of 14 May 2024 on asylum and migration management, amending Regulations (EU) 2021/1147 "
    "and (EU) 2021/1060 and repealing Regulation (EU) No 604/2013.",
    "Article 7 of the Asylum and Migration Management Regulation.",
    "Regulation of the European Parliament and of the Council of 14 May 2024 establishing a "
    "return border procedure and amending Regulation (EU) 2021/1148.",
    "Proposal for a Regulation of the European Parliament and of the Council amending "
    "Regulation (EU) 2024/1348 as regards the establishment of a list of safe countries of "
    "origin at Union level.",
    "Directive 2009/52/EC of the European Parliament and of the Council of 18 June 2009 "
    "providing for minimum standards on sanctions and measures against employers of illegally "
    "staying third-country nationals.",
    "COMMISSION IMPLEMENTING DECISION of 28.1.2026 on the financing of the European Migration "
    "Network as a component of the thematic facility under the Asylum, Migration and "
    "Integration Fund and the adoption of the work programme for 2026-2027.",
    "Communication from the Commission to the European Parliament and the Council on "
    "countering hybrid threats from the weaponisation of migration.",
    "(12) Council Decision 2008/381/EC of 14 May 2008 establishing a European Migration "
    "Network (OJ L 131, 21.5.2008, p. 7).",
    # A cover note's file lines.
    "No. Cion doc.: COM(2026) 45 final.",
    "Encl.: COM(2026) 45 final.",
    "Brussels, 29.1.2026 COM(2026) 45 final.",
    "- Brussels, 30 January 2026 (OR. en)",
]

STATEMENTS = [
    # An act as the subject of a sentence that says something about it.
    "Regulation (EU) 2024/1351 provides effective support to Member States under migratory "
    "pressure.",
    "The Asylum and Migration Management Regulation provides effective support to Member "
    "States under migratory pressure.",
    "Council Decision 2008/381/EC established the EMN in 2008.",
    "Directive 2009/52/EC shall apply to employers of illegally staying third-country nationals.",
    # Not about an act at all, though it opens like one of its names.
    "Communication services: organisation of EU level events for the dissemination of the "
    "main results of the EMN activities.",
    "25 Member States submitted their national strategies to the Commission.",
    "Article 8 lays down the obligations of the Member States.",
    # The cover note's lines that name people are kept: they answer "to whom was it sent?".
    "To: Ms Thérèse BLANCHET, Secretary-General of the Council of the European Union",
]


@pytest.mark.parametrize("sentence", NAMES_ONLY)
def test_a_documents_name_states_nothing(sentence: str) -> None:
    assert is_reference_line(sentence)


@pytest.mark.parametrize("sentence", STATEMENTS)
def test_a_sentence_about_an_act_is_a_statement(sentence: str) -> None:
    assert not is_reference_line(sentence)


def test_a_month_in_an_acts_date_is_no_verb() -> None:
    # "14 May 2024": 'may' in lower case is a verb ("Member States may ..."), the month is not.
    title = (
        "Regulation (EU) 2024/1348 of the European Parliament and of the Council of 14 May 2024 "
        "establishing a common procedure for international protection in the Union."
    )
    assert is_reference_line(title)
    assert not is_reference_line(title.replace("establishing", "may establish"))
