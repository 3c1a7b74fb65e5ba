"""A sentence-transformers model folder run without sentence-transformers: its tokenizer.json
through `tokenizers`, the encoder (common.bert_encoder for BERT, else transformers' AutoModel),
mean or CLS pooling, L2 normalisation.

Importing sentence-transformers costs a process about 3 s more than torch and transformers
(it pulls in scikit-learn and SciPy), paid by every ingestion run and every API worker at
start. For the common layout (a Transformer module, a Pooling module, optionally Normalize;
no prompts) this gives the same vectors without it; any other layout loads through
sentence-transformers (`plain_layout` returns None for it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from common import bert_encoder

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_POOLING_MODES = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def _json(path: Path) -> dict[str, Any] | list[Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def plain_layout(folder: Path) -> str | None:
    """'mean' or 'cls' when the folder holds a layout this module runs exactly as
    sentence-transformers would (tokenizer.json included); None otherwise."""
    if not (folder / "tokenizer.json").exists():
        return None
    modules = _json(folder / "modules.json")
    if not isinstance(modules, list) or len(modules) not in (2, 3):
        return None
    types = [m.get("type") for m in modules if isinstance(m, dict)]
    if types[:2] != [_TRANSFORMER, _POOLING] or types[2:] not in ([], [_NORMALIZE]):
        return None
    if modules[0].get("path", "") != "":
        return None
    st_config = _json(folder / "config_sentence_transformers.json") or {}
    if (
        not isinstance(st_config, dict)
        or st_config.get("prompts")
        or st_config.get("default_prompt_name")
    ):
        return None
    bert_config = _json(folder / "sentence_bert_config.json") or {}
    if not isinstance(bert_config, dict) or bert_config.get("do_lower_case"):
        return None
    pooling = _json(folder / modules[1].get("path", "1_Pooling") / "config.json")
    if not isinstance(pooling, dict):
        return None
    modes = [mode for key, mode in _POOLING_MODES.items() if pooling.get(key)]
    if len(modes) != 1 or modes[0] not in ("mean", "cls"):
        return None
    return modes[0]


class FastTokenizer:
    """The folder's tokenizer.json through the `tokenizers` library (Rust): the tokens
    transformers' fast tokenizer gives, without importing transformers or torch (chunking
    counts tokens long before any embedding)."""

    def __init__(self, path: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self._plain = Tokenizer.from_file(str(path))
        self._plain.no_truncation()
        self._plain.no_padding()
        self._batch = Tokenizer.from_file(str(path))
        padding = self._batch.padding or {}
        pad_token = padding.get("pad_token", "[PAD]")
        pad_id = padding.get("pad_id", self._batch.token_to_id(pad_token) or 0)
        self._batch.enable_padding(
            pad_id=pad_id, pad_type_id=padding.get("pad_type_id", 0), pad_token=pad_token
        )  # to the longest text of the batch
        self._batch.enable_truncation(max_length=max_length, strategy="longest_first")

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self._plain.encode(text, add_special_tokens=add_special_tokens).ids

    def batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Model inputs for `texts`: special tokens added, truncated, padded together."""
        encodings = self._batch.encode_batch(texts, add_special_tokens=True)
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }


class PlainEncoder:
    """The network and tokenizer of a plain-layout folder; `encode` returns unit vectors."""

    def __init__(self, folder: Path, pooling: str, tokenizer: FastTokenizer, device: str) -> None:
        """A BERT folder runs with common.bert_encoder (no transformers import), another
        architecture with transformers' AutoModel."""
        self.pooling = pooling
        self.tokenizer = tokenizer
        self.device = device
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.dimension = int(config["hidden_size"])
        if bert_encoder.supported(folder):
            self._network: Any = bert_encoder.BertEncoder(folder, device)
        else:
            from transformers import AutoModel

            model = AutoModel.from_pretrained(str(folder), local_files_only=True)
            model.to(device).eval()
            self._network = lambda **features: model(**features).last_hidden_state

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def encode(self, texts: list[str], batch_size: int = 32, **_: Any) -> np.ndarray:
        """Unit vectors, one row per text. Batches hold texts of similar length (less padding),
        as sentence-transformers forms them."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.get_embedding_dimension()), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self.embed_batch([texts[i] for i in rows])
        return out

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """One forward pass over `texts`, padded together: tokenise, encode, pool, normalise."""
        import torch

        with torch.inference_mode():
            features = {
                name: torch.from_numpy(array).to(self.device)
                for name, array in self.tokenizer.batch(texts).items()
            }
            tokens = self._network(**features)
            if self.pooling == "cls":
                pooled = tokens[:, 0]
            else:
                mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return pooled.float().cpu().numpy()
