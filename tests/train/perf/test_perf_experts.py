"""Grouped-GEMM experts with fused LoRA: same outputs and gradients as transformers' eager experts + PEFT."""

from __future__ import annotations

import pytest
import torch

from medswallow.train.perf import PerfConfig, apply_perf
from medswallow.train.perf.experts import experts_forward, grouped_mm_supported, unwrap_experts
from tests.train.perf.helpers import (
    assert_close_scaled,
    assert_close_tree,
    build_model,
    trainable_grads,
    twin,
)

EXPERT_LORA = {"target_modules": ["q_proj"], "target_parameters": ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]}


def routed_inputs(tokens: int, experts: int, top_k: int, empty_expert: int | None, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(tokens, 64, generator=gen, requires_grad=True)
    scores = torch.randn(tokens, experts, generator=gen)
    if empty_expert is not None:
        scores[:, empty_expert] = -1e9  # nobody routes there: a zero-size group
    top, indices = scores.topk(top_k, dim=-1)
    weights = torch.softmax(top, dim=-1).requires_grad_()
    return hidden, indices, weights


@pytest.mark.parametrize("impl", ["grouped", "loop"])
@pytest.mark.parametrize("empty_expert", [None, 2])
def test_experts_equal_transformers_eager_experts(impl: str, empty_expert: int | None) -> None:
    model = build_model()
    experts = model.model.layers[0].mlp.experts
    experts.config._experts_implementation = "eager"
    hidden, indices, weights = routed_inputs(23, 4, 2, empty_expert)
    params = [hidden, weights, *experts.parameters()]

    want = experts(hidden, indices, weights)
    grad_out = torch.randn_like(want)
    want_grads = torch.autograd.grad(want, params, grad_out)
    got = experts_forward(experts, hidden, indices, weights, impl=impl)
    got_grads = torch.autograd.grad(got, params, grad_out)

    assert_close_scaled(got, want, 1e-6, "output")
    for name, g, w in zip(["hidden", "weights", *dict(experts.named_parameters())], got_grads, want_grads, strict=True):
        assert_close_scaled(g, w, 1e-6, name)


def test_grouped_path_really_uses_torch_grouped_mm_here() -> None:
    """The grouped test above checks torch's kernel, not the loop fallback, on this CPU build."""
    x = torch.randn(10, 64)
    w = torch.randn(4, 64, 128)
    assert grouped_mm_supported(x, w)
    assert not grouped_mm_supported(x, torch.randn(4, 64, 2))  # 8-byte rows: the loop takes these


@pytest.mark.parametrize(("rank", "layers"), [(8, None), (2, [1])])
def test_fused_expert_lora_equals_peft_parametrization(rank: int, layers: list[int] | None) -> None:
    """rank 8: grouped GEMMs for the adapters; rank 2 (unaligned rows): the per-expert loop; one layer only."""
    lora = dict(EXPERT_LORA, r=rank)
    if layers is not None:
        lora["target_parameters"] = [f"layers.{i}.{p}" for i in layers for p in EXPERT_LORA["target_parameters"]]
    ref = build_model(lora=lora)
    ref.config._experts_implementation = "eager"
    fast = twin(ref)
    apply_perf(fast, PerfConfig(experts="grouped"))
    ids = torch.randint(0, 512, (2, 11), generator=torch.Generator().manual_seed(3))

    want = ref(input_ids=ids, labels=ids, output_router_logits=True)
    want.loss.backward()
    got = fast(input_ids=ids, labels=ids, output_router_logits=True)
    got.loss.backward()

    assert_close_scaled(got.logits, want.logits, 1e-5, "logits")
    assert_close_scaled(got.loss, want.loss, 1e-6, "loss")
    grads = trainable_grads(ref)
    assert any("experts" in n and "lora_B" in n for n in grads)  # expert adapters are really trained
    assert_close_tree(trainable_grads(fast), grads)


def test_disabled_and_merged_adapters_are_honoured() -> None:
    ref = build_model(lora=EXPERT_LORA).eval()
    ref.config._experts_implementation = "eager"
    fast = apply_perf(twin(ref), PerfConfig(experts="grouped"))
    ids = torch.randint(0, 512, (1, 9))
    with torch.no_grad():
        with ref.disable_adapter():
            base = ref(input_ids=ids).logits
        with fast.disable_adapter():
            assert_close_scaled(fast(input_ids=ids).logits, base, 1e-5, "disabled")
        adapted = ref(input_ids=ids).logits
        assert (adapted - base).abs().max() > 1e-3  # the adapters do change the output
        merged = fast.merge_and_unload()  # merged weights, wrappers gone: plain experts under our forward
        assert unwrap_experts(merged.model.layers[0].mlp.experts)[1] == {"gate_up_proj": [], "down_proj": []}
        assert_close_scaled(merged(input_ids=ids).logits, adapted, 1e-5, "merged")


def test_float32_adapters_run_in_the_weights_dtype_and_still_get_gradients(monkeypatch) -> None:
    """PEFT keeps adapters in float32 next to bf16 weights: every GEMM must see the weights' dtype (the grouped
    CUDA kernels take bf16 only), and the float32 factors must still receive gradients through the cast."""
    from medswallow.train.perf import experts as mod

    seen: list[torch.dtype] = []
    real = mod.grouped_mm

    def spy(x: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor, impl: str = "grouped") -> torch.Tensor:
        seen.append(w.dtype)
        return real(x, w, offsets, impl)

    monkeypatch.setattr(mod, "grouped_mm", spy)
    torch.manual_seed(0)
    experts, rows, width, rank = 4, 32, 16, 8
    x = torch.randn(rows, width, dtype=torch.bfloat16)
    weight = torch.randn(experts, width, width, dtype=torch.bfloat16)
    lhs = torch.randn(experts, width, rank, requires_grad=True)
    rhs = torch.randn(experts, rank, width, requires_grad=True)
    offsets = torch.tensor([8, 16, 24, 32], dtype=torch.int32)
    out = mod.grouped_linear(x, weight, offsets, [(lhs, rhs, 0.5)], "grouped")
    out.float().sum().backward()
    assert seen == [torch.bfloat16] * 3
    assert out.dtype == torch.bfloat16
    assert lhs.grad is not None and rhs.grad is not None and lhs.grad.abs().sum() > 0
    # Same result as the float32 computation, within bf16 rounding.
    ref = mod.loop_mm(x.float(), weight.float(), offsets) + 0.5 * mod.loop_mm(
        mod.loop_mm(x.float(), lhs.detach(), offsets), rhs.detach(), offsets
    )
    assert torch.allclose(out.float(), ref, rtol=0.05, atol=0.5)
