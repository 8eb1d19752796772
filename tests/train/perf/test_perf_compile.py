"""torch.compile of the decoder layers: compiled training steps give the eager loss and gradients.

aot_eager traces every layer through dynamo and AOT autograd (the graph capture the GPU run relies on) in
seconds; inductor also generates and runs C++ kernels on CPU, which costs ~50 CPU-seconds of compilation,
so it runs on a one-layer model.
"""

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

LORA = {"target_modules": ["q_proj", "v_proj"], "target_parameters": ["mlp.experts.gate_up_proj"]}


@pytest.fixture(autouse=True)
def _fresh_dynamo(tmp_path, monkeypatch):
    from torch._dynamo.utils import counters

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch._dynamo.reset()
    counters.clear()  # graph breaks and frames are counted per test
    yield
    torch._dynamo.reset()


def step_both(ref, fast, ids):
    """One forward and backward of each model on the same rows, router logits asked for: (reference, levers)."""
    outputs = []
    for model in (ref, fast):
        model.zero_grad()
        out = model(input_ids=ids, labels=ids, output_router_logits=True)
        out.loss.backward()
        outputs.append(out)
    return outputs


def compiled_matches_eager(backend: str, layers: int, levers: dict) -> None:
    ref = build_model(layers=layers, lora=LORA)
    fast = twin(ref)
    apply_perf(fast, PerfConfig(compile=True, compile_backend=backend, **levers))
    gen = torch.Generator().manual_seed(5)
    for step in range(2):  # the second step runs the cached graph
        want, got = step_both(ref, fast, torch.randint(3, 512, (2, 10), generator=gen))
        assert_close_scaled(got.loss, want.loss, 1e-6, f"loss, step {step}")
        assert_close_tree(trainable_grads(fast), trainable_grads(ref), rel=1e-5)


def test_aot_eager_compiled_layers_with_levers_match_eager() -> None:
    compiled_matches_eager(
        "aot_eager", 2, {"experts": "grouped", "checkpointing": "selective", "checkpoint_blocks": ["mlp"]}
    )


@pytest.mark.slow
def test_inductor_compiled_layer_matches_eager() -> None:
    compiled_matches_eager("inductor", 1, {"experts": "grouped"})


def _dynamo_counts() -> tuple[int, int]:
    """(graph breaks, frames compiled) so far."""
    from torch._dynamo.utils import counters

    return sum(counters["graph_break"].values()), counters["frames"]["ok"]


def _packed_positions(gen: torch.Generator, batch: int, length: int) -> torch.Tensor:
    """position_ids of rows packed with 1-3 documents of random lengths (restarting at 0 at each document)."""
    rows = []
    for _ in range(batch):
        documents = int(torch.randint(1, 4, (1,), generator=gen))
        cuts = sorted(torch.randint(1, length, (documents - 1,), generator=gen).tolist())
        bounds = [0, *cuts, length]
        rows.append(torch.cat([torch.arange(b - a) for a, b in zip(bounds, bounds[1:], strict=False)]))
    return torch.stack(rows)


def test_compiled_layers_train_without_graph_breaks_or_later_recompiles() -> None:
    """The router logits of the MoE loss come without transformers' hooks, which would break every layer's graph.

    Four layers (sliding and full attention, LoRA on the experts of one layer only, as the 20b recipe), router
    logits asked for (the trainer's load-balancing loss): the first steps compile what they need, and
    different data afterwards (new routing, new token counts per expert) compiles nothing more.
    """
    lora = {"target_modules": ["q_proj", "v_proj"], "target_parameters": ["1.mlp.experts.gate_up_proj"]}
    # bf16, as on the GPU: traced grouped GEMMs take bf16 only (float32 experts fall back to the loop, which breaks).
    ref = build_model(layers=4, lora=lora).to(torch.bfloat16)
    fast = twin(ref)
    apply_perf(ref, PerfConfig(experts="grouped"))
    apply_perf(fast, PerfConfig(compile=True, compile_backend="aot_eager", experts="grouped"))
    gen = torch.Generator().manual_seed(7)
    counts = []
    for step in range(5):
        want, got = step_both(ref, fast, torch.randint(3, 512, (2, 12), generator=gen))
        assert len(got.router_logits) == 4
        # The same bf16 kernels compiled and eager: equal up to the order of a few bf16 sums.
        assert_close_scaled(got.aux_loss.float(), want.aux_loss.float(), 1e-2, f"aux loss, step {step}")
        assert_close_scaled(got.loss.float(), want.loss.float(), 1e-2, f"loss, step {step}")
        grads, ref_grads = trainable_grads(fast), trainable_grads(ref)
        assert grads.keys() == ref_grads.keys()
        for name in grads:
            assert_close_scaled(grads[name].float(), ref_grads[name].float(), 5e-2, name)
        counts.append(_dynamo_counts())
    assert counts[-1][0] == 0, f"graph breaks inside the compiled layers: {counts[-1][0]}"
    assert counts[-1][1] == counts[1][1], f"frames compiled per step: {[c[1] for c in counts]}"


def test_compiled_flex_layers_take_new_block_masks_without_recompiling(monkeypatch) -> None:
    """Each batch brings new block masks (new document boundaries): the compiled layers reuse their graphs.

    Forward only (torch has no flex_attention backward on CPU); what is checked is dynamo's side: no graph
    break and no recompilation from the second batch on.
    """
    from medswallow.train.perf import apply as apply_module

    monkeypatch.setattr(apply_module, "check_supported", lambda cfg, device: None)
    model = build_model(layers=2, lora=LORA).to(torch.bfloat16)
    apply_perf(model, PerfConfig(compile=True, compile_backend="aot_eager", experts="grouped", attention="flex"))
    gen = torch.Generator().manual_seed(3)
    counts = []
    with torch.no_grad():
        for _ in range(4):
            ids = torch.randint(3, 512, (2, 16), generator=gen)
            out = model(input_ids=ids, position_ids=_packed_positions(gen, 2, 16), output_router_logits=True)
            assert torch.isfinite(out.logits).all()
            counts.append(_dynamo_counts())
    assert counts[-1][0] == 0, f"graph breaks inside the compiled layers: {counts[-1][0]}"
    assert counts[-1][1] == counts[0][1], f"frames compiled per batch: {[c[1] for c in counts]}"
