"""Packed sequences without cross-example attention for gpt-oss.

TRL's ``bfd`` packing (and padding-free batches) put several examples in one row and mark where each starts
only through ``position_ids`` (they restart at 0). transformers' mask builders detect those restarts and make
the mask block-diagonal, but ``GptOssModel.forward`` does not hand ``position_ids`` to them, so packed
examples attend to each other (a logit error of ~1 on the tiny model). The hook below builds the masks the
way the model would, with ``position_ids`` passed, and gives them to the model as its precomputed mask
mapping. It is a no-op whenever an attention mask is given (unpacked batches, generation).
"""

from __future__ import annotations

from typing import Any

HOOK_ATTR = "_medswallow_packed_mask_hook"


def _packed_masks(
    module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    import torch
    from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

    position_ids = kwargs.get("position_ids")
    if position_ids is None or kwargs.get("attention_mask") is not None:
        return None
    embeds = kwargs.get("inputs_embeds")
    shaped = embeds if embeds is not None else kwargs.get("input_ids", args[0] if args else position_ids)
    batch, length = shaped.shape[:2]
    # The mask builders read only the shape, dtype and device of inputs_embeds: no need to embed twice.
    like = torch.empty((batch, length, 1), dtype=module.embed_tokens.weight.dtype, device=position_ids.device)
    mask_kwargs = {
        "config": module.config,
        "inputs_embeds": like,
        "attention_mask": None,
        "past_key_values": kwargs.get("past_key_values"),
        "position_ids": position_ids,
    }
    builders = {"full_attention": create_causal_mask, "sliding_attention": create_sliding_window_causal_mask}
    kwargs["attention_mask"] = {t: builders[t](**mask_kwargs) for t in set(module.config.layer_types)}
    return args, kwargs


def install_packed_sequence_masks(model: Any) -> bool:
    """Register the hook on the gpt-oss backbone of ``model`` (idempotent). Returns whether one was installed.

    Other architectures pass ``position_ids`` to their mask builders already and are left alone.
    """
    backbone = getattr(model, "model", None)
    config = getattr(model, "config", None)
    if backbone is None or getattr(config, "model_type", None) != "gpt_oss":
        return False
    if getattr(backbone, HOOK_ATTR, None) is None:
        handle = backbone.register_forward_pre_hook(_packed_masks, with_kwargs=True)
        setattr(backbone, HOOK_ATTR, handle)
    return True


def pack_in_order(dataset: Any, max_length: int, strategy: str) -> Any:
    """TRL's best-fit-decreasing packing, with the packed rows put back in the order of their documents.

    BFD fills rows longest document first, so the packed rows come out in length order; the trainer's sampler
    then draws a different sequence of documents than it would from the same rows unpacked (the first-step
    loss of two runs on the same data then differs by ~0.02). Here each row goes back to the place of its
    earliest document, so packing changes how documents are grouped, never the order they are seen in.
    Returns columns ``input_ids`` and ``seq_lengths`` (what TRL's padding-free collator reads).
    """
    import numpy as np
    from trl.data_utils import pack_dataset

    big = np.iinfo(np.int64).max

    def mark(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
        # One value per token (packing keeps list columns aligned); the first token carries the index.
        return {"order": [[i] + [big] * (len(ids) - 1) for i, ids in zip(indices, batch["input_ids"], strict=True)]}

    marked = dataset.select_columns(["input_ids"]).map(mark, with_indices=True, batched=True)
    packed = pack_dataset(marked, max_length, strategy)
    order_col = packed.data.column("order").combine_chunks()
    offsets = order_col.offsets.to_numpy()
    values = order_col.values.to_numpy()
    first = np.minimum.reduceat(values, offsets[:-1]) if len(values) else np.zeros(0, dtype=np.int64)
    return packed.select(np.argsort(first, kind="stable").tolist()).remove_columns("order").flatten_indices()
