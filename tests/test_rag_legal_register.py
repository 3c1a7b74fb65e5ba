"""An official's words against the legislator's: 'deadline' finds a 'time limit', a quoted
term finds the article that defines it, 'how quickly' finds a period. Unit tests on the term
logic, then retrieval on a small regulation ingested for this module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.settings import Settings
from index.lexical import tokenize
from index.schema import Chunk, DocumentMeta
from rag.legal_register import legal_register
from rag.pipeline import Assistant
from rag.question import DURATION_QUESTION
from rag.retrieval import QueryTerms, quoted_terms


def _terms(question: str, weights: dict[str, float] | None = None) -> QueryTerms:
    register = legal_register(question)
    return QueryTerms(
        weights or dict.fromkeys(tokenize(question), 1.0),
        alternatives=register.alternatives,
        register=register.phrases,
        quoted=quoted_terms(question),
    )


def test_a_deadline_is_held_by_a_time_limit() -> None:
    terms = _terms("What is the deadline for a take charge request?")
    assert terms.holds("deadlin", frozenset(tokenize("within the time limit of two months")))
    assert not terms.holds("deadlin", frozenset(tokenize("within two months")))
    assert "time limit" in terms.lexical_query("What is the deadline?")


def test_coverage_counts_the_legislators_word_once() -> None:
    terms = _terms("deadline request")
    legal = frozenset(tokenize("The time limit for the request"))
    assert terms.coverage(legal) == pytest.approx(1.0)
    assert terms.coverage(frozenset(tokenize("the request"))) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("question", "passage"),
    [
        ("What is the EU-wide figure?", "The adequate capacity at Union level is 30 000."),
        ("From what age are fingerprints taken?", "the biometric data of every applicant"),
        ("How long is the record kept?", "shall be stored in Eurodac for ten years"),
        ("What happens once a person is naturalised?", "who has acquired citizenship"),
    ],
)
def test_the_register_maps_an_officials_word(question: str, passage: str) -> None:
    terms = _terms(question)
    asked = next(t for t in tokenize(question) if t in terms.alternatives)
    assert terms.holds(asked, frozenset(tokenize(passage)))


def test_an_ordinary_question_has_no_register() -> None:
    assert legal_register("How many staff does the EMN have?").alternatives == {}


@pytest.mark.parametrize(
    ("question", "passage", "match"),
    [
        ("What's the deadline for a take charge request?", "within two months of the date", 1),
        ("How long may the screening take?", "within seven days", 1),
        ("How long may the screening take?", "the screening shall be carried out", 0),
        ("Why is the 7-day screening needed?", "within seven days", 0),  # no period asked
        ("Can the 7-day limit be extended?", "a period of 7 days", 0),  # no period asked
    ],
)
def test_a_passage_stating_a_period_matches_a_duration_question(
    question: str, passage: str, match: int
) -> None:
    terms = QueryTerms({}, duration_of=question if DURATION_QUESTION.search(question) else "")
    assert terms.duration_match(passage) == match


def test_a_period_the_question_already_gives_is_no_answer() -> None:
    question = "How long after the 72 hours must the data be sent?"
    terms = QueryTerms({}, duration_of=question)
    assert terms.duration_match("within 72 hours") == 0
    assert terms.duration_match("within 48 hours") == 1


@pytest.mark.parametrize(
    ("question", "quoted"),
    [
        ("Who counts as a 'relative' for Dublin purposes?", ("relative",)),
        ("What is the EU-wide ‘adequate capacity’ figure?", ("adequate capacity",)),
        ('How is a "subsequent application" defined?', ("subsequent application",)),
        ("What's the Member States' share?", ()),  # apostrophes quote nothing
    ],
)
def test_quoted_terms(question: str, quoted: tuple[str, ...]) -> None:
    assert quoted_terms(question) == quoted


def _chunk(text: str, section: str = "") -> Chunk:
    doc = DocumentMeta(doc_id="reg", title="Regulation", kind="regulation")
    return Chunk(id="c", doc=doc, ordinal=0, text=text, section_path=section)


def test_a_definition_of_the_quoted_term_outranks_a_mention() -> None:
    terms = _terms("Who counts as a 'relative'?")
    definition = _chunk("(9) ‘relative’ means the applicant’s adult aunt or uncle or grandparent;")
    named = _chunk("The relative shall be present.", "Article 9 > Relative present")
    mention = _chunk("A relative who is legally present may care for the minor.")
    assert terms.defines(definition) == 1.0
    assert terms.defines(named) == 0.5
    assert terms.defines(mention) == 0.0
    assert _terms("When is a permit 'new'?").defines(_chunk("Text.", "Renewals")) == 0.0
    assert _terms("When is a permit 'new'?").defines(_chunk("Text.", "New permits")) == 0.5
    plural = _chunk("Text.", "Article 55 > Subsequent applications")
    assert _terms("What is a 'subsequent application'?").defines(plural) == 0.5


REGULATION = """# Regulation (EU) 2099/1 on responsibility for applications

# Article 2

## Definitions

For the purposes of this Regulation, the following definitions apply:

(1) ‘applicant’ means a third-country national who has made an application for protection.

(2) ‘family member’ means the spouse, the minor children and, where the applicant is a minor, \
the father or mother of the applicant.

(3) ‘relative’ means the applicant’s adult aunt or uncle or grandparent.

# Article 14

## Dependent persons

A relative counts as a family member for the purposes of this Article only where the relative \
lived with the applicant, as opposed to a relative who did not.

# Article 30

## Data in the central system

The data in the central system shall be processed only for the purposes laid down in this \
Regulation. How long the central system takes to compare data shall be reported every year. \
The data in the central system shall be accessible to the designated authorities only.

# Article 31

## Storage

Each dataset shall be stored in the central system for ten years from the date on which the \
biometric data were transmitted.

# Article 27

## Registration authorities

The authorities shall register the applications made to them and shall inform the applicant \
that the application has been registered.

# Article 28

## Time of registration

Where an application is made, it shall be registered within five days after it is made.
"""


@pytest.fixture(scope="module")
def legal_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    from ingest.pipeline import run_ingest

    root: Path = tmp_path_factory.mktemp("legal-register")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "reg-2099-1-responsibility.md").write_text(REGULATION, encoding="utf-8")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        index_dir=root / "index",
        data_dir=root / "data",
        corpus_dir=corpus,
        chroma_mode="embedded",
        multilingual_model="",
    )
    report = run_ingest(settings, progress=False)
    assert report.ok
    assistant = Assistant(settings)
    assistant.warm_up()
    yield assistant


def _top(assistant: Assistant, question: str, *, plain: bool = False) -> str:
    """The best passage's text; `plain`: with the question's own words only (no register,
    no quoted term), the control that shows the fixture needs what is tested."""
    index = assistant.index
    terms = QueryTerms.of(question, index)
    if plain:
        terms = QueryTerms(terms.weights)
    vector = assistant.embedder.embed_query(question)
    return assistant.retriever.candidates(question, vector, None, terms)[0].chunk.text


def test_a_quoted_term_finds_its_definition(legal_assistant: Assistant) -> None:
    question = "Who counts as a 'relative' as opposed to a family member?"
    assert "(3) ‘relative’ means" in _top(legal_assistant, question)
    assert "(3) ‘relative’ means" not in _top(legal_assistant, question, plain=True)


def test_the_legislators_word_finds_the_passage(legal_assistant: Assistant) -> None:
    question = "How long are the data kept in the central system?"
    assert "stored in the central system for ten years" in _top(legal_assistant, question)
    assert "ten years" not in _top(legal_assistant, question, plain=True)


def test_a_duration_question_finds_the_passage_stating_a_period(
    legal_assistant: Assistant,
) -> None:
    question = "How quickly must applications be registered by the authorities?"
    assert "within five days" in _top(legal_assistant, question)
    assert "within five days" not in _top(legal_assistant, question, plain=True)
