"""Chunked linear cross-entropy: same loss and gradients as full logits + F.cross_entropy (float32)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from medswallow.train.perf.loss import install_chunked_loss, linear_cross_entropy, shifted_labels
from tests.train.perf.helpers import (
    assert_close_scaled,
    assert_close_tree,
    build_model,
    trainable_grads,
    twin,
)

VOCAB = 201_088  # the o200k_harmony vocabulary: the size this lever exists for


def reference_loss(hidden, weight, labels, num_items_in_batch=None):
    logits = (hidden @ weight.t()).float()
    if num_items_in_batch is None:
        return F.cross_entropy(logits, labels, ignore_index=-100)
    return F.cross_entropy(logits, labels, ignore_index=-100, reduction="sum") / num_items_in_batch


@pytest.mark.parametrize(
    ("tokens", "chunk", "ignored", "num_items"),
    [
        (37, 8, 0.0, None),  # several chunks and a remainder
        (37, 16, 0.5, None),  # assistant-only style: half the labels are -100
        (48, 1024, 0.3, 100),  # one chunk; gradient accumulation divides by the global token count
        (1, 4, 0.0, None),  # a single labelled token
    ],
)
def test_chunked_ce_equals_full_logits(tokens: int, chunk: int, ignored: float, num_items: int | None) -> None:
    gen = torch.Generator().manual_seed(tokens + chunk)
    hidden = torch.randn(tokens, 32, generator=gen, requires_grad=True)
    weight = (torch.randn(VOCAB, 32, generator=gen) * 0.5).requires_grad_()
    labels = torch.randint(0, VOCAB, (tokens,), generator=gen)
    labels[torch.rand(tokens, generator=gen) < ignored] = -100

    want = reference_loss(hidden, weight, labels, num_items)
    want_grads = torch.autograd.grad(want, (hidden, weight))
    got = linear_cross_entropy(hidden, weight, labels, num_items_in_batch=num_items, chunk_tokens=chunk)
    got_grads = torch.autograd.grad(got, (hidden, weight))

    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    for g, w, name in zip(got_grads, want_grads, ("hidden", "weight"), strict=True):
        # 5e-5, not 1e-5: a chunk of 1-3 rows runs as a GEMV that sums the 201k-term products sequentially
        # (measured 1.2e-5 against float64, where the reference's single GEMM gets 1e-6).
        assert_close_scaled(g, w, 5e-5, name)


def test_frozen_head_gets_no_weight_gradient_and_upstream_scale_applies() -> None:
    hidden = torch.randn(10, 16, requires_grad=True)
    weight = torch.randn(300, 16)  # frozen, as under LoRA
    labels = torch.randint(0, 300, (10,))
    want = torch.autograd.grad(3.0 * reference_loss(hidden, weight, labels), hidden)[0]
    got = torch.autograd.grad(3.0 * linear_cross_entropy(hidden, weight, labels, chunk_tokens=3), hidden)[0]
    assert_close_scaled(got, want)


def test_no_labelled_token_gives_a_differentiable_zero() -> None:
    hidden = torch.randn(6, 16, requires_grad=True)
    weight = torch.randn(50, 16, requires_grad=True)
    loss = linear_cross_entropy(hidden, weight, torch.full((6,), -100))
    loss.backward()
    assert loss.item() == 0.0
    assert hidden.grad is not None and not hidden.grad.any()


def test_shifted_labels_align_each_position_with_the_next_token() -> None:
    labels = torch.tensor([[5, 6, 7], [8, -100, 9]])
    assert shifted_labels(labels).tolist() == [[6, 7, -100], [-100, 9, -100]]


@pytest.mark.parametrize("router_logits", [False, True])
def test_model_loss_and_lora_grads_equal_the_model_forward(router_logits: bool) -> None:
    ref = build_model(vocab=VOCAB, lora={"target_modules": ["q_proj", "v_proj"]})
    fast = twin(ref)
    install_chunked_loss(fast.get_base_model(), "chunked", chunk_tokens=7)
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, VOCAB, (2, 12), generator=gen)
    labels = ids.clone()
    labels[0, :5] = -100  # a prompt: loss on the answer only
    kwargs = {"input_ids": ids, "labels": labels, "output_router_logits": router_logits, "num_items_in_batch": 17}

    want = ref(**kwargs)
    want.loss.backward()
    got = fast(**kwargs)
    got.loss.backward()

    assert got.logits is None  # the point: no [tokens x vocab] tensor
    torch.testing.assert_close(got.loss, want.loss, rtol=1e-5, atol=1e-6)
    if router_logits:
        torch.testing.assert_close(got.aux_loss, want.aux_loss)
    assert_close_tree(trainable_grads(fast), trainable_grads(ref))


def test_without_labels_the_model_still_returns_logits() -> None:
    model = build_model().eval()
    install_chunked_loss(model)
    ids = torch.randint(0, 512, (1, 6))
    with torch.no_grad():
        out = model(input_ids=ids)
    assert out.logits.shape == (1, 6, 512) and out.loss is None
