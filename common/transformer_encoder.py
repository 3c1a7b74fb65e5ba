"""A sentence-transformers model folder run with `transformers` alone: tokenizer, encoder,
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
    sentence-transformers would; None otherwise."""
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


class PlainEncoder:
    """The network and tokenizer of a plain-layout folder; `encode` returns unit vectors."""

    def __init__(self, folder: Path, pooling: str, max_seq_length: int, device: str) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.pooling = pooling
        self.max_seq_length = max_seq_length
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.network = AutoModel.from_pretrained(str(folder), local_files_only=True)
        self.network.to(device).eval()
        self.device = device

    def get_embedding_dimension(self) -> int:
        return int(self.network.config.hidden_size)

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
            features = self.tokenizer(
                texts,
                padding=True,
                truncation="longest_first",
                max_length=self.max_seq_length,
                return_tensors="pt",
            ).to(self.device)
            tokens = self.network(**features).last_hidden_state
            if self.pooling == "cls":
                pooled = tokens[:, 0]
            else:
                mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return pooled.float().cpu().numpy()
