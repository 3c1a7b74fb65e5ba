"""The warm-up a host runs before it listens covers the input guard: a restarted host's first
question must not compile every language's injection patterns (about a second on one core,
measured in `make bench-cluster`'s recovery time)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import python_output, settings_env

from common.settings import Settings

pytestmark = pytest.mark.slow

CODE = """
from rag.guards import _injection_lexicons
from rag.lexicon import _compile
from rag.pipeline import Assistant
from common.settings import load_settings
assistant = Assistant(load_settings())
assistant.index.ensure_loaded()
assert _injection_lexicons.cache_info().currsize == 0
assistant.warm_models()
# Every language's injection rule is compiled (rules are compiled when first read).
print(_compile.cache_info().currsize)
print(_injection_lexicons.cache_info().currsize)
"""


def test_warm_models_compiles_the_input_guards_rules(
    default_index_settings: Settings, tmp_path: Path
) -> None:
    emn = {**settings_env(default_index_settings), "EMN_DATA_DIR": str(tmp_path / "data")}
    # A fresh process: nothing compiled yet, as in a host that has just been restarted.
    *_, compiled, lexicons = python_output(CODE, emn).strip().splitlines()
    assert int(lexicons) >= 1
    assert int(compiled) >= 23  # the 23 lexicons' injection rules at least
