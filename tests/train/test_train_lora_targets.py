"""LoRA targets by name: attention projections and MoE expert parameters of the layers asked for."""

from __future__ import annotations

import pytest

from medswallow.errors import UserError
from medswallow.train.peft_targets import ATTENTION_MODULES, EXPERT_PARAMETERS, lora_targets
from medswallow.train.recipe import LoraSection


@pytest.mark.parametrize(
    ("section", "modules", "parameters"),
    [
        ({}, ATTENTION_MODULES, EXPERT_PARAMETERS),
        ({"targets": ["attention"]}, ATTENTION_MODULES, []),
        ({"targets": ["experts"]}, [], EXPERT_PARAMETERS),
        ({"targets": ["all-linear", "experts"], "expert_layers": [1]}, "all-linear", [f"layers.1.{p}" for p in EXPERT_PARAMETERS]),
        ({"target_modules": ["q_proj"], "target_parameters": ["mlp.experts.down_proj"]}, ["q_proj"], ["mlp.experts.down_proj"]),
    ],
)
def test_named_groups_become_peft_names(section, modules, parameters):
    assert lora_targets(LoraSection(**section), num_layers=2) == (modules, parameters)


def test_expert_layers_out_of_range_and_empty_targets_are_refused():
    with pytest.raises(UserError, match=r"\[5\] out of range; the model has layers 0..1"):
        lora_targets(LoraSection(expert_layers=[0, 5]), num_layers=2)
    with pytest.raises(UserError, match="nothing to train"):
        lora_targets(LoraSection(targets=[]), num_layers=2)


@pytest.mark.slow
def test_adapters_land_on_attention_and_on_experts_of_chosen_layers_only(tiny_model_dir):
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from medswallow.train.peft_targets import lora_config

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    peft_model = get_peft_model(model, lora_config(LoraSection(r=4, alpha=8, expert_layers=[1]), model.config))
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    for layer in (0, 1):
        for proj in ATTENTION_MODULES:
            assert any(f"layers.{layer}.self_attn.{proj}.lora_A" in n for n in trainable)
    assert any("layers.1.mlp.experts" in n for n in trainable)
    assert not any("layers.0.mlp.experts" in n for n in trainable)
