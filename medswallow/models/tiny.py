"""Build a small random gpt-oss checkpoint, offline, with the real o200k_harmony tokenizer.

The checkpoint has the real architecture (GptOssForCausalLM: MoE, attention sinks, alternating sliding and
full attention) at toy size, so transformers, TRL, PEFT and vLLM load it exactly as they load the 120B model.
Tests and demos use it; its answers are noise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from medswallow.errors import UserError, require

# The model card's sampling defaults (written to generation_config.json so vLLM serves them).
GENERATION_DEFAULTS = {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0}
EOS_IDS = [200002, 199999, 200012]  # <|return|>, <|endoftext|>, <|call|>


@dataclass(frozen=True)
class TinySpec:
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    intermediate_size: int = 128
    num_local_experts: int = 4
    num_experts_per_tok: int = 2
    sliding_window: int = 128
    max_position_embeddings: int = 4096
    seed: int = 0
    dtype: str = "bfloat16"


def build_tiny_model(out_dir: str | Path, spec: TinySpec | None = None, force: bool = False) -> Path:
    """Write an HF folder (config, safetensors weights, tokenizer, chat template, generation config)."""
    spec = spec or TinySpec()
    out = Path(out_dir)
    marker = out / "medswallow_tiny.json"
    if marker.exists() and not force:
        if json.loads(marker.read_text()) == spec.__dict__:
            return out
    if out.exists() and any(out.iterdir()) and not marker.exists() and not force:
        raise UserError(f"{out}: directory exists and is not a tiny model built here; pick an empty directory or pass --force")
    torch = require("torch", "train")
    require("transformers", "train")
    from transformers import GenerationConfig, GptOssConfig, GptOssForCausalLM

    from medswallow.models.tokenizer import VOCAB_SIZE, build_hf_tokenizer

    out.mkdir(parents=True, exist_ok=True)
    layer_types = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(spec.num_hidden_layers)]
    config = GptOssConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.head_dim,
        intermediate_size=spec.intermediate_size,
        num_local_experts=spec.num_local_experts,
        num_experts_per_tok=spec.num_experts_per_tok,
        sliding_window=spec.sliding_window,
        layer_types=layer_types,
        max_position_embeddings=spec.max_position_embeddings,
        eos_token_id=200002,
        pad_token_id=199999,
        bos_token_id=199998,
        tie_word_embeddings=False,
    )
    torch.manual_seed(spec.seed)
    model = GptOssForCausalLM(config)
    model = model.to(getattr(torch, spec.dtype))
    model.save_pretrained(str(out), safe_serialization=True)
    gen = GenerationConfig(
        bos_token_id=199998, eos_token_id=EOS_IDS, pad_token_id=199999, do_sample=True, **GENERATION_DEFAULTS
    )
    gen.save_pretrained(str(out))
    build_hf_tokenizer(out)
    marker.write_text(json.dumps(spec.__dict__, indent=2))
    return out
