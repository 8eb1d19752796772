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
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def compiled_matches_eager(backend: str, layers: int, levers: dict) -> None:
    ref = build_model(layers=layers, lora=LORA)
    fast = twin(ref)
    apply_perf(fast, PerfConfig(compile=True, compile_backend=backend, **levers))
    gen = torch.Generator().manual_seed(5)
    for step in range(2):  # the second step runs the cached graph
        ids = torch.randint(3, 512, (2, 10), generator=gen)
        for model in (ref, fast):
            model.zero_grad()
        want = ref(input_ids=ids, labels=ids, output_router_logits=True)
        want.loss.backward()
        got = fast(input_ids=ids, labels=ids, output_router_logits=True)
        got.loss.backward()
        assert_close_scaled(got.loss, want.loss, 1e-6, f"loss, step {step}")
        assert_close_tree(trainable_grads(fast), trainable_grads(ref), rel=1e-5)


def test_aot_eager_compiled_layers_with_levers_match_eager() -> None:
    compiled_matches_eager(
        "aot_eager", 2, {"experts": "grouped", "checkpointing": "selective", "checkpoint_blocks": ["mlp"]}
    )


@pytest.mark.slow
def test_inductor_compiled_layer_matches_eager() -> None:
    compiled_matches_eager("inductor", 1, {"experts": "grouped"})
