"""Answers that lead with what was asked: the first sentence holds the asked-for value, a
sentence announcing a list brings the list, a document's title line or a footnote that only
names an act is not an answer.

Real default index, real embedding model, the extractive composer.
"""

from __future__ import annotations

import re

from rag_helpers import answer_sentences, assert_answered, describe

from common.sentences import sentences
from evals.metrics import strip_markers
from rag.pipeline import Assistant
from rag.reference_line import is_reference_line


def first_sentence(text: str) -> str:
    line = next(line for line in text.splitlines() if line.strip())
    return sentences(line)[0]


def test_first_sentence_holds_the_figure_asked_for(assistant: Assistant) -> None:
    answer = assistant.ask("How much is allocated to the EMN for the year 2027?")
    assert_answered(answer)
    head = first_sentence(answer.answer)
    assert re.search(r"EUR \d", head), describe(answer)  # an amount, not a title or a preamble
    assert "2 750 000" in answer.answer, describe(answer)


def test_how_much_money_is_answered_with_the_amount(assistant: Assistant) -> None:
    # Was abstained on ("the documents do not mention the figure asked for"): "money" and
    # "get" are not the decision's words, but an amount is what the question asks for.
    answer = assistant.ask("how much money does the EMN get for 2026-2027?")
    assert_answered(answer)
    assert "28 200 000" in answer.answer, describe(answer)


def test_a_sentence_announcing_a_list_brings_its_items(assistant: Assistant) -> None:
    answer = assistant.ask(
        "By what means should the EMN achieve its objectives under the Council Decision?"
    )
    assert_answered(answer)
    lines = answer.answer.splitlines()
    announcing = next(i for i, line in enumerate(lines) if "achieved by" in line)
    items = [line for line in lines[announcing + 1 :] if line.startswith("- ")]
    assert len(items) >= 3, describe(answer)
    assert any("collecting and exchanging" in item for item in items), describe(answer)


def test_a_sentence_brings_the_next_one_that_spells_it_out(assistant: Assistant) -> None:
    # "... cooperate with all other EU agencies and institutions." is followed by "These are,
    # for example, EUROSTAT ..., FRONTEX": the agencies asked for are in the second sentence.
    answer = assistant.ask("Which EU agencies and bodies do the NCPs cooperate with at EU level?")
    assert_answered(answer)
    # Right after it, and cited.
    follows = re.search(
        r"all other EU agencies and institutions \[\d+\]\.\s+These are, for example, "
        r"EUROSTAT[^\[]*FRONTEX\) \[\d+\]",
        answer.answer,
    )
    assert follows, describe(answer)


def test_the_documents_title_line_does_not_lead(assistant: Assistant) -> None:
    answer = assistant.ask("What is the EMN work programme 2026-2027 about?")
    head = first_sentence(answer.answer).lower()
    assert not head.startswith("commission implementing decision"), describe(answer)


def test_an_inform_draft_fills_its_body_from_the_corpus(assistant: Assistant) -> None:
    from rag.inform import draft_inform

    draft = draft_inform(assistant, "return and readmission cooperation with third countries")
    answered = [s.heading for s in draft.sections if s.behaviour == "answered" and s.text]
    # Key messages may repeat the body's strongest sentences, so they no longer use up the
    # sentences the body sections need (before: only the key messages were filled).
    assert "Key messages" in answered and len(answered) >= 3, answered


def test_a_legal_acts_recitals_are_told_apart_from_its_articles() -> None:
    from index.schema import Chunk, DocumentMeta
    from rag.retrieval import is_recital

    regulation = DocumentMeta(doc_id="reg", title="Regulation", kind="regulation")
    strategy = DocumentMeta(doc_id="st", title="Strategy", kind="strategy")
    recital = Chunk(id="a", doc=regulation, ordinal=1, text="(22) The screening should ...")
    article = Chunk(id="b", doc=regulation, ordinal=90, text="1. The screening shall ...",
                    section_path="Article 8 > Requirements concerning the screening")  # fmt: skip
    intro = Chunk(id="c", doc=strategy, ordinal=0, text="Building on steady progress ...")
    assert is_recital(recital)
    assert not is_recital(article)
    assert not is_recital(intro)


def test_an_item_and_its_lead_in_read_as_one_list(assistant: Assistant) -> None:
    answer = assistant.ask("how much money does the EMN get for 2026-2027?")
    lines = answer.answer.splitlines()
    # The sentence announcing the split comes first, its items below it; no item is quoted
    # on its own before the sentence that says what it is.
    assert "28 200 000" in lines[0] and lines[0].rstrip().endswith(":"), describe(answer)
    assert lines[1].startswith("- (a) EUR 25 450 000"), describe(answer)
    assert lines[2].startswith("- (b) EUR 2 750 000"), describe(answer)


def test_a_footnote_naming_an_act_is_not_quoted(assistant: Assistant) -> None:
    # Was quoted as the third and fourth sentences: the strategy's footnotes "Article 8 of the
    # Regulation (EU) 2024/1351 of the European Parliament ..." and "Article 7 of the Asylum
    # and Migration Management Regulation." share the question's words and state nothing.
    answer = assistant.ask(
        "How many Member States handed in national asylum and migration strategies?"
    )
    assert_answered(answer)
    assert "25 Member States" in answer_sentences(answer)[0], describe(answer)
    quoted = [s for s in answer_sentences(answer) if is_reference_line(strip_markers(s))]
    assert not quoted, describe(answer)


def test_an_acts_name_answers_which_act(assistant: Assistant) -> None:
    answer = assistant.ask(
        "Which regulation established the Asylum, Migration and Integration Fund?"
    )
    assert_answered(answer)
    # The footnote that names the act, quoted first: here the name is the answer.
    first = answer_sentences(answer)[0]
    assert first.startswith("Regulation (EU) 2021/1147 of the European"), describe(answer)


def test_a_name_holding_the_date_asked_for_answers(assistant: Assistant) -> None:
    answer = assistant.ask(
        "On what date did the Commission adopt the implementing decision financing the EMN for "
        "2026-2027 (C(2026) 36)?"
    )
    assert_answered(answer)
    assert "28.1.2026" in answer_sentences(answer)[0], describe(answer)
