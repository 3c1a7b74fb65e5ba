"""The risk register (docs/risk-register.yaml) stays true: every risk has a control, an
article and tests, and every test it names exists (file and function, found with ast; a
parametrised id such as `test_x[POST /v1/ask]` names `test_x`)."""

from __future__ import annotations

import ast
import re
from functools import cache

import pytest
import yaml

from common.settings import PROJECT_ROOT

REGISTER = PROJECT_ROOT / "docs" / "risk-register.yaml"
REQUIRED_TOPICS = {
    "hallucinated figures": r"hallucinat",
    "uncited claims": r"uncited",
    "individual legal advice": r"individual legal advice",
    "profiling (Art. 5)": r"profiling",
    "prompt injection": r"prompt injection",
    "poisoned documents": r"poisoned",
    "personal data in logs": r"personal data in logs",
    "tampering with records": r"tampering with records",
    "over-reliance / automation bias": r"automation bias",
    "stale or superseded documents": r"superseded",
    "service abuse / DoS": r"denial of service",
    "secret leakage": r"secret leakage",
    "model unavailability": r"unavailab",
}


def load_risks() -> list[dict]:
    return yaml.safe_load(REGISTER.read_text(encoding="utf-8"))["risks"]


@cache
def defined_tests(path: str) -> frozenset[str]:
    """Names of the module-level test functions (sync or async) of a test file."""
    tree = ast.parse((PROJECT_ROOT / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    )


def split_node_id(node_id: str) -> tuple[str, str]:
    """'tests/x.py::test_y[param]' -> ('tests/x.py', 'test_y')."""
    path, sep, name = node_id.partition("::")
    assert sep and path and name, f"not a pytest node id: {node_id!r}"
    return path, re.sub(r"\[.*\]$", "", name)


def test_every_risk_is_complete_and_ids_are_unique() -> None:
    risks = load_risks()
    assert len(risks) >= len(REQUIRED_TOPICS)
    for risk in risks:
        for key in ("id", "risk", "article", "control", "tests"):
            assert risk.get(key), f"{risk.get('id', risk)}: missing {key}"
        assert isinstance(risk["tests"], list), risk["id"]
    ids = [risk["id"] for risk in risks]
    assert len(ids) == len(set(ids)), "duplicate risk ids"


@pytest.mark.parametrize("topic", sorted(REQUIRED_TOPICS))
def test_the_register_covers(topic: str) -> None:
    pattern = re.compile(REQUIRED_TOPICS[topic], re.IGNORECASE)
    assert any(pattern.search(risk["risk"]) for risk in load_risks()), topic


def test_every_named_test_exists() -> None:
    missing = []
    for risk in load_risks():
        for node_id in risk["tests"]:
            path, name = split_node_id(node_id)
            if not (PROJECT_ROOT / path).is_file():
                missing.append(f"{risk['id']}: no file {path}")
            elif name not in defined_tests(path):
                missing.append(f"{risk['id']}: no {name} in {path}")
    assert not missing, "\n".join(missing)


def test_the_checker_catches_a_missing_test() -> None:
    path, name = split_node_id("tests/test_risk_register.py::test_every_named_test_exists[x]")
    assert name in defined_tests(path)
    assert "test_that_does_not_exist" not in defined_tests(path)
    with pytest.raises(AssertionError):
        split_node_id("tests/test_risk_register.py")
