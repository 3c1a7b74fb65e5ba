"""A BERT encoder (the architecture of MiniLM and most sentence embedders) in plain torch,
with its weights read from the folder's model.safetensors.

transformers' BertModel computes the same (`tests/test_transformer_encoder.py` compares the two
to 1e-6), but importing its modeling stack costs a process about 2.5 s (it pulls in
torch.distributed, kernels and conversion machinery), paid by every ingestion run and API
worker at start, for six layers of attention this file spells out. A folder whose config
asks for anything else (another architecture, activation or position embedding) is run by
transformers (`supported` says which).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WEIGHTS = "model.safetensors"
LINEAR_PARTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


def supported(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and (folder / WEIGHTS).exists()
    )


class BertEncoder:
    """`encoder(input_ids, attention_mask, token_type_ids)` -> last hidden state
    (batch, tokens, hidden), in inference mode."""

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        from safetensors.torch import load_file

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.hidden_size = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        weights = load_file(str(folder / WEIGHTS), device=device)
        self.w: dict[str, Any] = {k.removeprefix("bert."): v for k, v in weights.items()}
        missing = [k for k in self._names() if k not in self.w]
        if missing:
            raise ValueError(f"{folder / WEIGHTS} lacks {missing[0]} (and {len(missing) - 1} more)")

    def _names(self) -> list[str]:
        names = [
            "embeddings.word_embeddings.weight",
            "embeddings.position_embeddings.weight",
            "embeddings.token_type_embeddings.weight",
            "embeddings.LayerNorm.weight",
            "embeddings.LayerNorm.bias",
        ]
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            for part in LINEAR_PARTS:
                names += [f"{p}{part}.weight", f"{p}{part}.bias"]
            for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
                names += [f"{p}{norm}.weight", f"{p}{norm}.bias"]
        return names

    def _linear(self, x: Any, name: str) -> Any:
        import torch.nn.functional as F

        return F.linear(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"])

    def _norm(self, x: Any, name: str) -> Any:
        import torch.nn.functional as F

        return F.layer_norm(
            x, (self.hidden_size,), self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.eps
        )

    def __call__(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        import torch
        import torch.nn.functional as F

        w = self.w
        batch, length = input_ids.shape
        positions = torch.arange(length, device=input_ids.device)
        x = (
            w["embeddings.word_embeddings.weight"][input_ids]
            + w["embeddings.position_embeddings.weight"][positions]
            + w["embeddings.token_type_embeddings.weight"][token_type_ids]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        # Padding is never attended to: minus infinity (the dtype's lowest) before the softmax.
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        head_size = self.hidden_size // self.heads

        def heads(t: Any) -> Any:
            return t.view(batch, length, self.heads, head_size).transpose(1, 2)

        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = heads(self._linear(x, p + "attention.self.query"))
            k = heads(self._linear(x, p + "attention.self.key"))
            v = heads(self._linear(x, p + "attention.self.value"))
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            context = context.transpose(1, 2).reshape(batch, length, self.hidden_size)
            x = self._norm(self._linear(context, p + "attention.output.dense") + x,
                           p + "attention.output.LayerNorm")  # fmt: skip
            h = F.gelu(self._linear(x, p + "intermediate.dense"))
            x = self._norm(self._linear(h, p + "output.dense") + x, p + "output.LayerNorm")
        return x
