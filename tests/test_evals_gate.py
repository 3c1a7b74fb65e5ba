"""CI quality gate: the dev set, in process (extractive composer, no baseline), against the
floors and ceilings of evals/floors.toml.

The index is built from corpus/ in a temporary folder (the test session's shared one when
tests/conftest.py provides it, else its own, reusing the vectors of the local index), so the
gate measures the current code and corpus, never a stale index.
Raise floors as quality rises; never lower one without saying why in the commit message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.dataset import DEV_SET, load_dataset
from evals.floors import FLOORS, check, load_floors
from evals.runner import run_target
from evals.targets import InProcessTarget
from evals.testing import build_index


@pytest.fixture(scope="module")
def dev_metrics(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    try:  # the session's index of corpus/ (tests/conftest.py), when the suite provides one
        settings = request.getfixturevalue("default_index_settings")
    except pytest.FixtureLookupError:
        root: Path = tmp_path_factory.mktemp("evals-gate")
        settings = build_index(root / "index")
    settings = settings.model_copy(update={"composer": "extractive", "generation": "on"})
    target = InProcessTarget(settings, composer="extractive")
    try:
        metrics, _ = run_target(target, load_dataset(DEV_SET), progress=False)
    finally:
        target.close()
    return metrics


def test_dev_set_meets_floors(dev_metrics: dict) -> None:
    checks = check(dev_metrics, load_floors(FLOORS))
    failed = [c for c in checks if not c.ok]
    assert not failed, (
        f"{len(failed)} metric(s) missed their bound in {FLOORS.name} "
        "(metric, value, bound):\n" + "\n".join(c.line() for c in checks)
    )


def test_dev_set_covers_every_question(dev_metrics: dict) -> None:
    assert dev_metrics["questions"] == len(load_dataset(DEV_SET))
    assert dev_metrics["with_sources"] > 0 and dev_metrics["answer_expected"] > 0
