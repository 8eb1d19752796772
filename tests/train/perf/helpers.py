"""Tiny float32 gpt-oss models and comparison helpers for the lever equality tests (built in memory)."""

from __future__ import annotations

import copy
from typing import Any

import torch


def tiny_config(vocab: int = 512, layers: int = 2, sliding_window: int = 4, experts: int = 4) -> Any:
    from transformers import GptOssConfig

    config = GptOssConfig(
        vocab_size=vocab,
        hidden_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        intermediate_size=64,
        num_local_experts=experts,
        num_experts_per_tok=2,
        # Shorter than the test documents, so the sliding-window layers really slide.
        sliding_window=sliding_window,
        layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
        max_position_embeddings=4096,
        initializer_range=0.1,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    config._attn_implementation = "eager"
    return config


def build_model(seed: int = 0, lora: dict[str, Any] | None = None, **config_kwargs: Any) -> Any:
    """A random fp32 tiny gpt-oss; sinks large enough to matter; optional PEFT LoRA with random A and B."""
    from transformers import GptOssForCausalLM

    torch.manual_seed(seed)
    model = GptOssForCausalLM(tiny_config(**config_kwargs))
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.sinks.copy_(torch.randn_like(layer.self_attn.sinks) * 2)
            layer.mlp.experts.gate_up_proj_bias.normal_(0, 0.1)
            layer.mlp.experts.down_proj_bias.normal_(0, 0.1)
    if lora is not None:
        from peft import LoraConfig, get_peft_model

        # init_lora_weights=False: B is random too, so the adapters change outputs and every factor has a gradient.
        settings = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "init_lora_weights": False, **lora}
        model = get_peft_model(model, LoraConfig(**settings))
    model.train()
    return model


def twin(model: Any) -> Any:
    """An identical, independent copy of a model (reference vs levers)."""
    return copy.deepcopy(model)


def trainable_grads(model: Any) -> dict[str, Any]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


def assert_close_scaled(got: Any, want: Any, rel: float = 1e-5, name: str = "") -> None:
    """max |got - want| <= rel * max |want|: float32 agreement up to summation order, for any tensor scale.

    Elementwise relative checks fail on tiny entries of gradients that sum ~200k fp32 terms (the vocabulary);
    a wrong mask, routing or scale breaks this bound by orders of magnitude.
    """
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    err = (got.double() - want.double()).abs().max().item()
    scale = want.double().abs().max().item()
    assert err <= rel * scale + 1e-12, f"{name}: max error {err:.3g} > {rel:g} x max {scale:.3g}"


def assert_close_tree(got: dict[str, Any], want: dict[str, Any], rel: float = 1e-5) -> None:
    """Every tensor of ``want`` has a close tensor (assert_close_scaled) under the same name in ``got``."""
    assert got.keys() == want.keys(), sorted(set(got) ^ set(want))
    for name, ref in want.items():
        assert_close_scaled(got[name], ref, rel, name)
