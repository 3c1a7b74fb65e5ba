"""The contradiction sets and `python -m evals contradictions`: every set in evals/datasets is
valid and quotes its documents verbatim; the command verifies each pair with the real
verifier and embedding model and reports the shares; the dev set meets the targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.contradictions import (
    DATASETS,
    KEPT_TARGET,
    REMOVED_TARGET,
    Pair,
    in_fold,
    load_pairs,
    passage_problems,
)
from evals.contradictions_cli import run_contradictions

SETS = sorted(DATASETS.glob("contradictions-*.jsonl"))


def test_the_dev_set_exists_and_is_balanced() -> None:
    pairs = load_pairs(DATASETS / "contradictions-dev.jsonl")
    assert len(pairs) >= 120
    kinds = {p.kind for p in pairs}
    assert kinds == {"paraphrase", "negation", "antonym", "comparative", "quantifier", "number",
                     "date"}  # fmt: skip
    faithful = sum(p.label == "faithful" for p in pairs)
    assert 0.35 <= faithful / len(pairs) <= 0.65
    assert all((p.label == "faithful") == (p.kind == "paraphrase") for p in pairs)


@pytest.mark.parametrize("path", SETS, ids=[p.name for p in SETS])
def test_every_passage_is_verbatim_document_text(path: Path) -> None:
    pairs = load_pairs(path)
    assert pairs, path
    assert passage_problems(pairs) == []


def test_a_passage_not_in_its_document_is_reported() -> None:
    pairs = [
        Pair(id="a", doc_id="emn-about-dg-home", passage="The EMN was abolished in 2009.",
             sentence="x", label="faithful", kind="paraphrase"),
        Pair(id="b", doc_id="no-such-document", passage="x", sentence="x",
             label="contradiction", kind="negation"),
        Pair(id="c", doc_id="emn-work-programme-2026-2027",
             passage="The maximum Union   contribution\nfor the implementation of the work "
             "programme", sentence="x", label="faithful", kind="paraphrase"),
    ]  # fmt: skip
    assert passage_problems(pairs) == [
        "a: passage not found verbatim in emn-about-dg-home",
        "b: unknown document no-such-document",
    ]


def test_an_invalid_set_is_refused_line_by_line(tmp_path: Path) -> None:
    bad = tmp_path / "contradictions-bad.jsonl"
    good = {"id": "x", "doc_id": "emn-about-dg-home", "passage": "p", "sentence": "s",
            "label": "faithful", "kind": "paraphrase"}  # fmt: skip
    bad.write_text(json.dumps(good) + "\n" + json.dumps({**good, "label": "maybe"}) + "\n"
                   + json.dumps(good) + "\n")  # fmt: skip
    with pytest.raises(ValueError) as caught:
        load_pairs(bad)
    assert str(caught.value).splitlines() == [
        "contradictions-bad.jsonl:2: Input should be 'faithful' or 'contradiction'",
        "contradictions-bad.jsonl:3: duplicate id x",
    ]
    assert run_contradictions(str(bad), tmp_path / "out") == 2


def test_a_missing_blind_set_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run_contradictions("blind", tmp_path / "out", datasets=tmp_path) == 2
    err = capsys.readouterr().err
    assert "blind contradiction set" in err and "does not exist yet" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_command_reports_the_dev_set_on_target(tmp_path: Path) -> None:
    """The whole verifier (support checks and contradiction check) on the dev set."""
    assert run_contradictions("dev", tmp_path) == 0
    report = json.loads((tmp_path / "dev.json").read_text())
    assert report["pairs"] == len(load_pairs(DATASETS / "contradictions-dev.jsonl"))
    assert report["removed_share"] >= REMOVED_TARGET, report["failures"]
    assert report["kept_share"] >= KEPT_TARGET, report["failures"]
    assert set(report["by_kind"]) == {"negation", "antonym", "comparative", "quantifier",
                                      "number", "date"}  # fmt: skip
    markdown = (tmp_path / "dev.md").read_text()
    assert "| contradictions removed |" in markdown and "Targets met." in markdown


def test_folds_split_a_set_by_id_parity(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Develop on one fold's failures, check on the other: odd ids are fold A, even fold B."""
    ids = ["cd2-001", "cd2-002", "cd2-013", "cd2-378", "x"]
    assert [i for i in ids if in_fold(i, "A")] == ["cd2-001", "cd2-013"]
    assert [i for i in ids if in_fold(i, "B")] == ["cd2-002", "cd2-378"]
    assert [i for i in ids if in_fold(i, None)] == ids
    one = tmp_path / "contradictions-one.jsonl"
    pair = {"id": "c-1", "doc_id": "emn-about-dg-home", "passage": "p", "sentence": "s",
            "label": "faithful", "kind": "paraphrase"}  # fmt: skip
    one.write_text(json.dumps(pair))
    assert run_contradictions(str(one), tmp_path / "out", fold="B") == 2
    assert "no pair in fold B" in capsys.readouterr().err
