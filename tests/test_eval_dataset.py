"""The development question set: valid, balanced, and every gold quote really in the corpus.

Gold quotes drive the retrieval metrics (hit@k, MRR), so a quote that is not in the corpus, or a
chapter of the long documents that no question touches, would silently distort the scores.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evals.dataset import DEV_SET, ITEM_TYPES, Item, load_dataset
from evals.normalise import key_fact_present, normalise

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
STRATEGY = "com-2026-45-migration-strategy.md"
WORK_PROGRAMME = "emn-work-programme-2026-2027.md"

# Sections of the two long documents that must each hold at least one gold quote, as
# (label, start of the line that opens the section), in document order. A section runs to the
# next listed one, so footnotes printed after a heading count for the section they fall in.
STRATEGY_SECTIONS = [
    ("1 Introduction", "## 1. INTRODUCTION"),
    ("2 Migration diplomacy", "## 2. STEPPING UP MIGRATION DIPLOMACY"),
    ("2 Whole-of-route approach", "### ***Whole-of-route approach"),
    ("2 Preventing dangerous journeys", "### ***Preventing dangerous journeys"),
    ("2 Partner asylum systems", "### ***Supporting partner countries"),
    ("2 Pathways to protection", "### ***Promoting pathways to protection"),
    ("2 Returns from third countries", "### ***Supporting returns from third countries"),
    ("3 Borders", "### **3. STRONG EU BORDERS"),
    ("3 Access control", "#### *A more effective control of access"),
    ("3 Border technology", "### ***Leveraging technology"),
    ("4 Asylum and migration system", "#### **4. A FIRM, FAIR AND ADAPTABLE"),
    ("4 Implementing the Pact", "### ***Implementing the Pact"),
    ("4 Digitalisation and AI", "### ***Modernising asylum procedures"),
    ("4 Ukraine", "### ***Providing support to displaced people from Ukraine"),
    ("5 Return and readmission", "## 5. MORE EFFECTIVE RETURN AND READMISSION"),
    ("5 Common system for return", "### *Building a common European system for return"),
    ("5 Readmission", "### ***Improving readmission"),
    ("5 Challenging contexts", "### ***Addressing challenging contexts"),
    ("6 Labour and talent mobility", "## **6. LABOUR AND TALENT MOBILITY"),
    ("6 Migration diplomacy tool", "### ***Labour and talent mobility as a tool"),
    ("6 Legal framework", "### ***A legal framework fit"),
    ("6 Illegal employment", "### ***Fighting illegal employment"),
    ("6 Integration", "### ***Improving integration"),
    ("7 Financial resources", "## **7. STRATEGIC USE OF FINANCIAL RESOURCES"),
    ("8 Conclusion", "## **8. CONCLUSION"),
]
WORK_PROGRAMME_SECTIONS = [
    ("Recitals", "Whereas:"),
    ("Article 1 work programme", "*Article 1*"),
    ("Article 2 Union contribution", "*Article 2*"),
    ("Article 3 flexibility", "### *Article 3*"),
    ("Article 4 indirect management", "### *Article 4*"),
    ("Article 5 grants without call", "### *Article 5*"),
    ("Annex 1 introduction and budget", "#### 1. Introduction"),
    ("Annex objectives and expected results", "#### Objectives pursued and expected results"),
    ("Annex 2 grants", "## 2. Grants"),
    ("Annex 3 procurement", "### 3. Procurement"),
    ("Annex 4 indirect management", "#### 4. Actions implemented in indirect management"),
    ("Annex 5 other actions (IT services)", "#### 5. Other actions or expenditure"),
]


@pytest.fixture(scope="module")
def items() -> list[Item]:
    return load_dataset(DEV_SET)


@pytest.fixture(scope="module")
def corpus() -> dict[str, str]:
    """Normalised text of every corpus document, by file name."""
    return {
        p.name: normalise(p.read_text(encoding="utf-8"))
        for p in sorted(CORPUS.iterdir())
        if p.is_file() and p.name != "catalog.json"
    }


def _sections(file_name: str, anchors: list[tuple[str, str]]) -> dict[str, str]:
    """Split a corpus file at the given line starts; return normalised text per section."""
    raw = "\n" + (CORPUS / file_name).read_text(encoding="utf-8")
    starts = []
    position = 0
    for label, line_start in anchors:
        position = raw.find("\n" + line_start, position)
        assert position != -1, f"{file_name}: section anchor not found: {line_start!r}"
        starts.append((label, position))
        position += 1
    ends = [start for _, start in starts[1:]] + [len(raw)]
    return {
        label: normalise(raw[start:end]) for (label, start), end in zip(starts, ends, strict=True)
    }


def _quotes(items: list[Item]) -> list[str]:
    return [normalise(source.quote) for item in items for source in item.sources]


def test_dev_set_size_and_unique_ids(items: list[Item]) -> None:
    assert len(items) >= 80
    ids = [item.id for item in items]
    assert len(ids) == len(set(ids))


def test_every_type_and_behaviour_present(items: list[Item]) -> None:
    types = Counter(item.type for item in items)
    assert set(types) == set(ITEM_TYPES), f"missing types: {set(ITEM_TYPES) - set(types)}"
    behaviours = Counter(item.expected_behaviour for item in items)
    assert behaviours["answer"] and behaviours["abstain"] and behaviours["decline"]


def test_behaviour_matches_type(items: list[Item]) -> None:
    for item in items:
        if item.type == "unanswerable":
            assert item.expected_behaviour == "abstain", item.id
        elif item.type in {"out_of_scope", "injection"}:
            assert item.expected_behaviour == "decline", item.id
        elif item.expected_behaviour != "answer":
            # only individual-case questions dressed as policy questions are declined
            assert item.expected_behaviour == "decline" and item.id.startswith("adv-"), item.id


def test_individual_legal_advice_requests_are_declined(items: list[Item]) -> None:
    advice = [item for item in items if item.id.startswith("adv-")]
    assert len(advice) >= 6
    assert all(item.expected_behaviour == "decline" for item in advice)


def test_answer_items_have_gold(items: list[Item]) -> None:
    for item in items:
        if item.expected_behaviour != "answer":
            continue
        assert item.answer, item.id
        assert 1 <= len(item.key_facts) <= 4, item.id
        assert 1 <= len(item.sources) <= 3, item.id
        for fact in item.key_facts:
            assert key_fact_present(fact, item.answer), f"{item.id}: gold answer lacks {fact!r}"


def test_abstain_and_decline_items_have_no_gold(items: list[Item]) -> None:
    for item in items:
        if item.expected_behaviour != "answer":
            assert not item.sources and not item.key_facts, item.id


def test_every_quote_occurs_in_the_corpus(items: list[Item], corpus: dict[str, str]) -> None:
    missing = []
    for item in items:
        for source in item.sources:
            quote = normalise(source.quote)
            if not any(quote in text for text in corpus.values()):
                missing.append(f"{item.id}: {source.quote[:80]!r}")
    assert not missing, "quotes not found in corpus/:\n" + "\n".join(missing)


def test_quotes_have_a_useful_length(items: list[Item]) -> None:
    for item in items:
        for source in item.sources:
            assert 60 <= len(source.quote) <= 300, f"{item.id}: {len(source.quote)} characters"


def test_every_corpus_document_is_cited(items: list[Item], corpus: dict[str, str]) -> None:
    quotes = _quotes(items)
    uncited = [name for name, text in corpus.items() if not any(q in text for q in quotes)]
    assert not uncited, f"documents without a gold quote: {uncited}"


@pytest.mark.parametrize(
    ("file_name", "anchors"),
    [(STRATEGY, STRATEGY_SECTIONS), (WORK_PROGRAMME, WORK_PROGRAMME_SECTIONS)],
)
def test_every_section_of_the_long_documents_is_covered(
    items: list[Item], file_name: str, anchors: list[tuple[str, str]]
) -> None:
    quotes = _quotes(items)
    sections = _sections(file_name, anchors)
    uncovered = [label for label, text in sections.items() if not any(q in text for q in quotes)]
    assert not uncovered, f"{file_name}: sections without a gold quote: {uncovered}"


def test_load_dataset_reports_line_of_malformed_json(tmp_path: Path) -> None:
    good = {"id": "a", "question": "q?", "type": "factoid", "expected_behaviour": "answer"}
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + '{"id": "b", "question": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 3: invalid JSON"):
        load_dataset(path)


def test_load_dataset_reports_invalid_fields_and_duplicates(tmp_path: Path) -> None:
    good = {"id": "a", "question": "q?", "type": "factoid", "expected_behaviour": "answer"}
    bad_type = {**good, "id": "b", "type": "trivia"}
    bad_behaviour = {**good, "id": "c", "expected_behaviour": "refuse"}
    bad_fact = {**good, "id": "d", "key_facts": ["28 200 000||28.2 million"]}
    path = tmp_path / "set.jsonl"
    lines = [good, bad_type, good, bad_behaviour, bad_fact, ["not", "an", "object"]]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as excinfo:
        load_dataset(path)
    message = str(excinfo.value)
    assert "line 2: type" in message
    assert "line 3: duplicate id 'a' (first used on line 1)" in message
    assert "line 4: expected_behaviour" in message
    assert "line 5: key_facts" in message and "empty alternative" in message
    assert "line 6: expected a JSON object" in message


def test_load_dataset_accepts_unknown_doc_names(tmp_path: Path) -> None:
    item = {
        "id": "x-1",
        "question": "How much?",
        "type": "factoid",
        "answer": "EUR 28 200 000",
        "key_facts": ["28 200 000|28.2 million"],
        "sources": [{"doc": "some-other-team.pdf", "quote": "is set at EUR 28 200 000"}],
        "expected_behaviour": "answer",
    }
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(item) + "\n", encoding="utf-8")
    (loaded,) = load_dataset(path)
    assert loaded.sources[0].doc == "some-other-team.pdf"


def test_load_dataset_rejects_unknown_fields_and_empty_files(tmp_path: Path) -> None:
    item = {"id": "a", "question": "q?", "type": "factoid", "expected_behaviour": "answer"}
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({**item, "gold": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 1: gold"):
        load_dataset(path)
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no items"):
        load_dataset(path)
