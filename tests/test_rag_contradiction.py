"""The contradiction check in verification (rag/contradiction.py): sentences that share their
words with a passage but say the opposite are removed, whatever the composer; quotes and
faithful paraphrases are kept. Unit level on corpus sentences, verifier level on the session
index's real chunks, every corpus sentence against its own chunk, sentences in other
languages, and the `llm` composer end to end against a scripted model server on loopback.
"""

from __future__ import annotations

import re

import pytest
from rag_helpers import ScriptedAnswerServer, assert_answered, describe, stored_candidate

from common.sentences import sentences
from common.settings import Settings
from index.reader import IndexReader
from rag.contradiction import find_contradiction, looks_english
from rag.pipeline import Assistant
from rag.retrieval import Candidate
from rag.verify import Verifier

BUDGET = (
    "The maximum Union contribution for the implementation of the work programme for the years "
    "2026-2027 is set at EUR 28 200 000 and shall be financed from the appropriations"
)
REG = (
    "In 2014, EMN has established the Return Expert Group (REG). REG aims to increase practical "
    "cooperation between member states and the sharing of good practice and expertise on return."
)
DENMARK = "Denmark is therefore not bound by this Decision or subject to its application."
NCPS = "National Contact Points (EMN NCPs) are established in all Member States (except Denmark)"
EARLY = "The earlier the intervention along the route, the higher the chances to prevent incidents"
DISPLACED = (
    "Two-thirds of those who are forced to leave stay in neighbouring areas, often hosted in "
    "low- and middle-income countries."
)
AMENDED = (
    "The EMN was established in 2008 (Council Decision 2008/381/EC) and amended by Regulation "
    "(EU) No 516/2014 of the European Parliament and of the Council in April 2014."
)


# --- the check itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "passage", "kind"),
    [
        ("Denmark is therefore bound by this Decision.", DENMARK, "negation"),
        ("The EMN does not support the Return Expert Group.", REG, "negation"),
        ("REG aims to reduce practical cooperation between member states.", REG, "antonym"),
        ("The minimum Union contribution for 2026-2027 is EUR 28 200 000.", BUDGET, "antonym"),
        ("The later the intervention along the route, the higher the chances.", EARLY, "antonym"),
        ("National Contact Points are established in only a few Member States.", NCPS,
         "quantifier"),
        ("One-third of those who are forced to leave stay in neighbouring areas.", DISPLACED,
         "number"),
        ("The EMN was established in 2014 by Council Decision 2008/381/EC.", AMENDED, "date"),
        ("The EMN was amended by Regulation (EU) No 516/2014 in October 2014.", AMENDED, "date"),
        ("Those forced to leave are mostly hosted in high-income countries.", DISPLACED,
         "antonym"),
    ],
)  # fmt: skip
def test_contradictions_are_found_and_named(sentence: str, passage: str, kind: str) -> None:
    found = find_contradiction(sentence, passage)
    assert found is not None, sentence
    assert found.kind == kind, found
    assert found.reason(2).startswith(f"contradicts passage [2]: {kind} (")


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        ("Denmark is thus neither bound by this Decision nor subject to its application.",
         DENMARK),
        ("Denmark is not bound by this Decision.", DENMARK),
        ("The Return Expert Group was set up by the EMN in 2014.", REG),
        ("The work programme for 2026-2027 has a maximum Union contribution of EUR 28 200 000.",
         BUDGET),
        ("Apart from Denmark, every Member State has an EMN National Contact Point.", NCPS),
        ("Intervening earlier along the route raises the chances of preventing incidents.",
         EARLY),
        ("Two-thirds of people forced to leave remain in neighbouring areas.", DISPLACED),
        ("Set up in 2008 by Council Decision 2008/381/EC, the EMN was amended in April 2014.",
         AMENDED),
        ("The Union contribution for 2026-2027 is no higher than EUR 28 200 000.", BUDGET),
    ],
)  # fmt: skip
def test_faithful_paraphrases_are_not_contradictions(sentence: str, passage: str) -> None:
    assert find_contradiction(sentence, passage) is None


def test_a_quote_is_never_a_contradiction() -> None:
    """Verbatim text, even cut mid-sentence or stripped of its punctuation, is the passage's."""
    for passage in (BUDGET, REG, DENMARK, NCPS, DISPLACED, AMENDED):
        for sentence in sentences(passage):
            assert find_contradiction(sentence, passage) is None
            assert find_contradiction(sentence.rstrip(".") + " ", passage) is None


# Faithful renderings of corpus sentences in other languages (what the llm composer writes for
# a question in that language). Only figures are compared there.
TRANSLATED = [
    ("Le Danemark n'est donc pas lié par la présente décision.", DENMARK),
    ("La contribution maximale de l'Union pour 2026-2027 est fixée à 28 200 000 EUR.", BUDGET),
    ("Der Höchstbetrag des Unionsbeitrags für 2026-2027 beträgt 28 200 000 EUR.", BUDGET),
    ("En 2014, la REM creó el Grupo de Expertos en Retorno (REG).", REG),
    ("Nel 2014 l'EMN ha istituito il gruppo di esperti sul rimpatrio (REG).", REG),
    ("Het EMN werd in 2008 opgericht en in april 2014 gewijzigd.", AMENDED),
    ("Dwie trzecie osób zmuszonych do wyjazdu pozostaje w sąsiednich regionach.", DISPLACED),
    ("Os pontos de contacto nacionais existem em todos os Estados-Membros, exceto a Dinamarca.",
     NCPS),
]  # fmt: skip


def test_sentences_in_other_languages_are_compared_on_figures_only() -> None:
    assert not any(looks_english(s) for s, _ in TRANSLATED)
    assert [find_contradiction(s, p) for s, p in TRANSLATED] == [None] * len(TRANSLATED)
    # A figure attached to another figure than in the passage is still caught.
    passage = "- (a) EUR 25 450 000 for 2026;\n- (b) EUR 2 750 000 for 2027."
    swapped = find_contradiction("Les crédits sont de 2 750 000 EUR pour 2026.", passage)
    assert swapped is not None and swapped.kind == "number", swapped
    assert find_contradiction("Les crédits sont de 2 750 000 EUR pour 2027.", passage) is None


# --- in the verifier, on the session index ------------------------------------------------------


def test_verifier_removes_contradicting_sentences_and_says_why(
    reader: IndexReader, verifier: Verifier
) -> None:
    passages = [
        stored_candidate(reader, "The maximum Union contribution for the implementation"),
        stored_candidate(reader, "In 2014, EMN has established the Return Expert Group"),
    ]
    draft = (
        "The maximum Union contribution for the work programme 2026-2027 is EUR 28 200 000 [1]. "
        "The minimum Union contribution for the work programme 2026-2027 is EUR 28 200 000 [1]. "
        "REG aims to reduce practical cooperation between member states on return [2]. "
        "REG seeks to increase practical cooperation between member states on return [2]."
    )
    result = verifier.verify(draft, passages)
    assert result.text == (
        "The maximum Union contribution for the work programme 2026-2027 is EUR 28 200 000 [1]. "
        "REG seeks to increase practical cooperation between member states on return [2]."
    )
    reasons = {r.sentence: r.reason for r in result.removed}
    assert reasons == {
        "The minimum Union contribution for the work programme 2026-2027 is EUR 28 200 000.":
            "contradicts passage [1]: antonym ('minimum' against 'maximum')",
        "REG aims to reduce practical cooperation between member states on return.":
            "contradicts passage [2]: antonym ('reduce' against 'increase')",
    }  # fmt: skip


def test_a_sentence_keeps_the_passages_it_does_not_contradict(
    reader: IndexReader, verifier: Verifier
) -> None:
    """Cited twice, contradicting one passage: it stays, citing only the one it agrees with."""
    reg = stored_candidate(reader, "In 2014, EMN has established the Return Expert Group")
    other = Candidate(
        chunk=reg.chunk.model_copy(update={"id": "other", "text": reg.chunk.text.replace(
            "aims to increase practical cooperation", "aims to decrease practical cooperation")}),
    )  # fmt: skip
    result = verifier.verify(
        "REG aims to increase practical cooperation between member states [1][2].", [other, reg]
    )
    assert result.kept == 1 and result.cited == [1], result


def test_no_corpus_sentence_contradicts_its_own_chunk(reader: IndexReader) -> None:
    """Extractive answers quote the chunks: the check must never remove a quote."""
    verifier = Verifier()  # quotes pass on words alone
    checked = 0
    for chunk in reader.chunks.values():
        stored = reader.sentences[chunk.id]
        passage = Candidate(chunk=chunk, sentence_spans=stored.spans)
        for a, b in stored.spans:
            sentence = chunk.text[a:b]
            if not re.search(r"[A-Za-z]{3}", sentence):
                continue
            checked += 1
            found = verifier.contradiction(sentence, passage)
            assert found is None, (sentence, found)
            _, removed = verifier.check_sentence(f"{sentence} [1]", [passage], {})
            assert removed is None or not removed.reason.startswith("contradicts"), removed
    assert checked > 500


# --- the llm composer, end to end ---------------------------------------------------------------

QUESTION = "What is the maximum Union contribution for the EMN work programme 2026-2027?"
FAITHFUL = [
    "For 2026-2027, the maximum Union contribution to the work programme is EUR 28 200 000",
    "It is financed from the appropriations of the general budget of the Union",
]
CONTRADICTING = [
    "The minimum Union contribution for the work programme 2026-2027 is EUR 28 200 000",
    "The maximum Union contribution for the work programme 2026-2027 is not set at EUR 28 200 000",
    "The increase of the maximum Union contribution shall be at least 20%",
]


def contradicting_model(sources: list[tuple[str, str]]) -> str:
    """Two faithful sentences, three that contradict the budget article, all cited to it."""
    number = next(n for n, text in sources if "maximum Union contribution" in text)
    return " ".join(f"{s} [{number}]." for s in [FAITHFUL[0], *CONTRADICTING, FAITHFUL[1]])


@pytest.mark.slow
@pytest.mark.parametrize("streamed", [False, True])
def test_llm_contradictions_are_removed_from_the_answer(
    default_index_settings: Settings, streamed: bool
) -> None:
    with ScriptedAnswerServer(contradicting_model) as server:
        settings = default_index_settings.model_copy(update={
            "composer": "llm", "retrieval_k": 5, "llm_base_url": server.base_url,
            "llm_model": "scripted", "llm_timeout_s": 30.0,
        })  # fmt: skip
        assistant = Assistant(settings)
        if streamed:
            answer = next(e.answer for e in assistant.stream(QUESTION) if e.kind == "answer")
        else:
            answer = assistant.ask(QUESTION)
        assert server.replies, "the model was asked"
    assert answer is not None
    assert answer.versions.composer == "llm" and not answer.fallback, describe(answer)
    assert_answered(answer)
    for sentence in FAITHFUL:
        assert sentence in answer.answer, describe(answer)
    for sentence in CONTRADICTING:
        assert sentence not in answer.answer, describe(answer)
    assert "minimum" not in answer.answer and "not set" not in answer.answer
    assert "at least 20" not in answer.answer, describe(answer)


# --- rules that generalise: written from general English, not from any evaluation pair ---------

AVOID = "The EMN shall continue to enhance cooperation while avoiding duplicating the work of "
AVOID += "existing EU bodies or structures."
SMUGGLING = "Every smuggling trip avoided is potentially a life saved."
NO_LONGER = "The Dublin III Regulation shall no longer apply."
LATEST = "That information shall be provided no later than three days from the making of the "
LATEST += "application."
WITHDRAW = "Member States shall not withdraw secondary education for the sole reason that the "
WITHDRAW += "minor has reached the age of majority."
WITHOUT_DELAY = "It shall notify the person concerned in writing without delay of the decision "
WITHOUT_DELAY += "to transfer him or her at the latest two days before the transfer."
CYCLES = "Such a Member State may reduce proportionally the part above the fair share under "
CYCLES += "the upcoming annual cycles over a period of five years."


@pytest.mark.parametrize(
    ("sentence", "passage", "kind"),
    [
        ("The EMN shall enhance cooperation by duplicating the work of existing EU bodies.",
         AVOID, "negation"),
        ("Member States are prohibited from extending the time limit.",
         "Member States may extend the time limit.", "negation"),
        ("The Dublin III Regulation shall continue to apply.", NO_LONGER,
         "negation"),
        ("That information shall be provided no earlier than three days from the making of the "
         "application.", LATEST, "antonym"),
    ],
)  # fmt: skip
def test_general_rules_find_contradictions(sentence: str, passage: str, kind: str) -> None:
    """Verbs of avoidance and prohibition negate their object; a word is compared near the
    nearest words both texts share, however far; bounds said two ways are one bound."""
    found = find_contradiction(sentence, passage)
    assert found is not None and found.kind == kind, (sentence, found)


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        ("The EMN shall not duplicate the work of existing EU bodies or structures.", AVOID),
        ("Each avoided smuggling trip can potentially save a life.", SMUGGLING),
        ("The Dublin III Regulation ceases to apply.", NO_LONGER),
        ("That information shall be provided at the latest three days after the application "
         "is made.", LATEST),
        ("A minor's secondary education may not be withdrawn solely because he or she has "
         "reached the age of majority.", WITHDRAW),
        ("The person must be notified in writing of the transfer decision at least two days "
         "before the transfer.", WITHOUT_DELAY),
        ("Such a Member State may deduct proportionally the part above its fair share in the "
         "upcoming annual cycles over five years.", CYCLES),
        ("The first Strategy is to be adopted by 12 December 2025, with a new one every five "
         "years after that.", "The first Strategy shall be adopted by 12 December 2025 and "
         "every five years thereafter."),
    ],
)  # fmt: skip
def test_general_rules_keep_faithful_paraphrases(sentence: str, passage: str) -> None:
    """A participle governs nothing ('trip avoided'); 'no later than' is 'at the latest'; a
    negation after a word ('education may not be withdrawn') negates its clause; 'without'
    governs a noun phrase; a unit the claim states too, and 'one every', are no conflict."""
    assert find_contradiction(sentence, passage) is None
