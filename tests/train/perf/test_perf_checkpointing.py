"""Selective activation checkpointing: the same gradients as keeping every activation, for every policy."""

from __future__ import annotations

import pytest
import torch

from medswallow.train.perf import PerfConfig, apply_perf
from tests.train.perf.helpers import (
    assert_close_scaled,
    assert_close_tree,
    build_model,
    trainable_grads,
    twin,
)

LORA = {
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "target_parameters": ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"],
}

POLICIES = [
    {"checkpointing": "full"},
    {"checkpointing": "selective", "checkpoint_blocks": ["mlp"]},
    {"checkpointing": "selective", "checkpoint_blocks": ["attention"]},
    {"checkpointing": "selective", "checkpoint_blocks": ["attention", "mlp"], "checkpoint_every": 2},
    {"checkpointing": "full", "checkpoint_save_matmuls": True},
    {"checkpointing": "selective", "checkpoint_blocks": ["mlp"], "checkpoint_save_matmuls": True, "experts": "grouped"},
]


def count_router_calls(model) -> list[int]:
    calls = [0]
    for module in model.modules():
        if type(module).__name__ == "GptOssTopKRouter":
            module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: "-".join(f"{v}" for v in p.values()))
def test_checkpointing_keeps_gradients_exact(policy: dict) -> None:
    ref = build_model(layers=4, lora=LORA)
    fast = twin(ref)
    apply_perf(fast, PerfConfig(**policy))
    calls = count_router_calls(fast)
    ids = torch.randint(3, 512, (2, 10), generator=torch.Generator().manual_seed(4))

    want = ref(input_ids=ids, labels=ids, output_router_logits=True)
    want.loss.backward()
    got = fast(input_ids=ids, labels=ids, output_router_logits=True)
    forward_calls = calls[0]
    got.loss.backward()

    assert_close_scaled(got.loss, want.loss, 1e-6, "loss")
    assert_close_tree(trainable_grads(fast), trainable_grads(ref))
    # The lever is really on: MoE blocks inside checkpointed regions run again in the backward pass.
    recomputes_mlp = policy["checkpointing"] == "full" or "mlp" in policy.get("checkpoint_blocks", [])
    every = policy.get("checkpoint_every", 1)
    assert calls[0] - forward_calls == (4 // every if recomputes_mlp else 0)


def test_no_recompute_outside_training() -> None:
    model = apply_perf(build_model(layers=2), PerfConfig(checkpointing="full")).eval()
    calls = count_router_calls(model)
    with torch.no_grad():
        model(input_ids=torch.randint(3, 512, (1, 6)))
    assert calls[0] == 2
