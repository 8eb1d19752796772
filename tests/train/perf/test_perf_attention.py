"""Packed sequences and flex attention masks: no attention across examples, sliding windows and sinks intact.

The eager path with the packed-sequence mask hook (medswallow.train.packing, whose packed-vs-unpacked logit
test lives in tests/train/test_train_packing.py) is the reference for training on CPU; the flex path is
checked forward-only (torch 2.13 has no flex_attention backward on CPU).
"""

from __future__ import annotations

import pytest
import torch

from medswallow.train.packing import install_packed_sequence_masks
from medswallow.train.perf.attention import dense_mask, document_ids, install_flex_attention
from tests.train.perf.helpers import (
    assert_close_scaled,
    assert_close_tree,
    build_model,
    trainable_grads,
    twin,
)

DOCS = [7, 9, 4]  # packed example lengths; the sliding window is 4, so windows cut inside documents


def packed(lengths: list[int]) -> torch.Tensor:
    return torch.cat([torch.arange(n) for n in lengths])[None]


def eager_mask(model, position_ids=None, attention_mask=None, length=None) -> dict[str, torch.Tensor]:
    """The boolean masks transformers builds for eager attention (position_ids passed, as the hook does)."""
    from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

    batch = (attention_mask if attention_mask is not None else position_ids).shape[0]
    length = length or (attention_mask if attention_mask is not None else position_ids).shape[1]
    kwargs = {
        "config": model.config,
        "inputs_embeds": torch.empty(batch, length, 1),
        "attention_mask": attention_mask,
        "past_key_values": None,
        "position_ids": position_ids,
    }
    masks = {"full_attention": create_causal_mask(**kwargs), "sliding_attention": create_sliding_window_causal_mask(**kwargs)}
    return {k: (m == 0) if m.dtype != torch.bool else m for k, m in masks.items()}


@pytest.mark.parametrize(
    ("position_ids", "attention_mask"),
    [
        (packed(DOCS), None),  # padding-free row of three examples
        (packed([3, 10, 2, 5]), None),
        (None, torch.tensor([[1] * 12 + [0] * 4, [1] * 16])),  # right padding
        (None, torch.tensor([[0] * 5 + [1] * 11])),  # left padding
    ],
)
def test_mask_mod_materialises_to_the_eager_mask(position_ids, attention_mask) -> None:
    model = build_model()
    source = attention_mask if attention_mask is not None else position_ids
    batch, length = source.shape
    ids = document_ids(position_ids, attention_mask, batch, length, "cpu")
    want = eager_mask(model, position_ids, attention_mask)
    valid = (ids >= 0)[:, None, :, None]  # a padding query's row is never used; flex leaves it empty
    for kind, window in (("full_attention", None), ("sliding_attention", 4)):
        got = dense_mask(ids, window)
        assert torch.equal(got & valid, want[kind].expand_as(got) & valid), kind


def test_padding_free_batch_trains_like_the_padded_batch() -> None:
    """TRL's padding-free collator + the mask hook: same loss and LoRA gradients as a padded batch."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    gen = torch.Generator().manual_seed(1)
    examples = [{"input_ids": torch.randint(3, 512, (n,), generator=gen).tolist()} for n in DOCS]
    padded = DataCollatorForLanguageModeling(pad_token_id=0)(examples)
    flat = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(examples)
    assert flat["input_ids"].shape == (1, sum(DOCS)) and flat["position_ids"].tolist() == packed(DOCS).tolist()
    assert flat["cu_seq_lens_q"].tolist() == [0, 7, 16, 20]

    ref = build_model(lora={"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]})
    fast = twin(ref)
    install_packed_sequence_masks(fast.get_base_model())
    want = ref(**padded)
    want.loss.backward()
    got = fast(**flat)
    got.loss.backward()
    assert_close_scaled(got.loss, want.loss, 1e-6, "loss")
    assert_close_tree(trainable_grads(fast), trainable_grads(ref))


@pytest.mark.parametrize("layout", ["packed", "padded", "plain"])
def test_flex_attention_with_sinks_equals_eager_forward(layout: str) -> None:
    model = build_model(layers=4).eval()
    install_packed_sequence_masks(model)
    gen = torch.Generator().manual_seed(2)
    if layout == "packed":
        inputs = {"input_ids": torch.randint(3, 512, (1, 20), generator=gen), "position_ids": packed(DOCS)}
        valid = torch.ones(1, 20, dtype=torch.bool)
    elif layout == "padded":
        mask = torch.tensor([[1] * 16, [1] * 10 + [0] * 6])
        inputs = {"input_ids": torch.randint(3, 512, (2, 16), generator=gen), "attention_mask": mask}
        valid = mask.bool()
    else:
        inputs = {"input_ids": torch.randint(3, 512, (2, 16), generator=gen)}
        valid = torch.ones(2, 16, dtype=torch.bool)
    flex = twin(model)
    install_flex_attention(flex, flex.model)
    with torch.no_grad():
        want = model(**inputs).logits
        got = flex(**inputs).logits
    assert flex.config._attn_implementation == "medswallow_flex"
    assert_close_scaled(got[valid], want[valid], 1e-5, "logits")


def test_sinks_matter_in_the_flex_path() -> None:
    """Guard against a silently ignored sink: zeroing the sinks must change the flex output."""
    model = build_model().eval()
    install_flex_attention(model, model.model)
    ids = torch.randint(3, 512, (1, 12))
    with torch.no_grad():
        with_sinks = model(input_ids=ids).logits
        for layer in model.model.layers:
            layer.self_attn.sinks.fill_(-1e4)
        without = model(input_ids=ids).logits
    assert (with_sinks - without).abs().max() > 1e-3
