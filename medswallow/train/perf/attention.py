"""flex_attention for gpt-oss training: sinks through the log-sum-exp, one block mask per layer type.

gpt-oss attention adds a learned per-head "sink" logit to every softmax row; the sink has no value vector.
With ``lse`` the log-sum-exp flex_attention returns for a row, the row's output with the sink is exactly
``out * sigmoid(lse - sink)`` (the softmax denominator grows from e^lse to e^lse + e^sink), so sinks cost
one elementwise op instead of a dense score matrix. The block mask encodes causality, the 128-token
sliding window of every other layer, padding, and the boundaries of packed documents (from
``position_ids`` restarting at 0), so packed examples never see each other and fully masked blocks are
skipped by the kernel.

On CPU, torch 2.13's flex_attention runs forward only (no backward), which is enough to check here that
this path produces the eager path's logits; training with it needs a GPU.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

ATTENTION_NAME = "medswallow_flex"
HOOK_ATTR = "_medswallow_flex_mask_hook"


def document_ids(
    position_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    batch: int,
    length: int,
    device: Any,
) -> torch.Tensor:
    """[B, T] ids: tokens with equal ids may attend to each other; -1 marks padding.

    A new document starts wherever ``position_ids`` do not continue by +1 (TRL's padding-free and packed
    batches restart them at 0), the same rule transformers uses to detect packed sequences.
    """
    if position_ids is None:
        ids = torch.zeros(batch, length, dtype=torch.long, device=device)
    else:
        pos = position_ids.to(device).expand(batch, -1)
        step = torch.diff(pos, prepend=pos[:, :1] - 1, dim=-1)
        ids = (step != 1).cumsum(-1)
    if attention_mask is not None:
        ids = ids.masked_fill(attention_mask.to(device) == 0, -1)
    return ids


def document_mask_mod(doc_ids: torch.Tensor, sliding_window: int | None = None) -> Any:
    """flex_attention mask_mod: same document, key not padding, causal, and within the window if any."""

    def mask_mod(b: Any, h: Any, q: Any, kv: Any) -> Any:
        allowed = (doc_ids[b, q] == doc_ids[b, kv]) & (doc_ids[b, kv] >= 0) & (kv <= q)
        if sliding_window is not None:
            # transformers' sliding window: the key is one of the last `sliding_window` positions.
            allowed = allowed & (q - kv < sliding_window)
        return allowed

    return mask_mod


def dense_mask(doc_ids: torch.Tensor, sliding_window: int | None = None) -> torch.Tensor:
    """The mask_mod materialised as a [B, 1, T, T] bool tensor (for checks against the eager mask)."""
    from torch.nn.attention.flex_attention import create_mask

    batch, length = doc_ids.shape
    return create_mask(
        document_mask_mod(doc_ids, sliding_window), batch, None, length, length, device=doc_ids.device
    )


def block_masks(config: Any, doc_ids: torch.Tensor) -> dict[str, Any]:
    """One BlockMask per layer type of ``config`` ("full_attention", "sliding_attention")."""
    from torch.nn.attention.flex_attention import create_block_mask

    batch, length = doc_ids.shape
    windows = {"full_attention": None, "sliding_attention": config.sliding_window}
    # Compiled mask construction is fast on GPU; on CPU it would compile a kernel for a one-off tensor.
    compile_mask = doc_ids.device.type == "cuda"
    return {
        kind: create_block_mask(
            document_mask_mod(doc_ids, windows[kind]),
            batch,
            None,
            length,
            length,
            device=doc_ids.device,
            _compile=compile_mask,
        )
        for kind in set(config.layer_types)
    }


@functools.cache
def _compiled_flex() -> Any:
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


def _flex(query: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
    from torch.nn.attention.flex_attention import flex_attention

    # Inside a compiled decoder layer dynamo traces flex_attention itself; eager callers need the compiled
    # kernel (uncompiled flex materialises the score matrix). CPU keeps the reference implementation.
    if torch.compiler.is_compiling() or query.device.type != "cuda":
        return flex_attention(query, *args, **kwargs)
    return _compiled_flex()(query, *args, **kwargs)


def flex_sink_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: Any,
    scaling: float | None = None,
    dropout: float = 0.0,
    s_aux: torch.Tensor | None = None,
    **_: Any,
) -> tuple[torch.Tensor, None]:
    """An attention function for transformers' AttentionInterface: [B, H, T, D] in, [B, T, H, D] out."""
    from torch.nn.attention.flex_attention import AuxRequest, BlockMask

    if dropout:
        raise ValueError("flex attention (medswallow) has no attention dropout; set attention_dropout to 0")
    if not isinstance(attention_mask, BlockMask):
        raise ValueError("flex attention (medswallow) needs the block masks of install_flex_attention")
    out, aux = _flex(
        query,
        key,
        value,
        block_mask=attention_mask,
        scale=scaling,
        enable_gqa=True,
        return_aux=AuxRequest(lse=True),
    )
    if s_aux is not None:
        # softmax over [scores, sink] = softmax(scores) * e^lse / (e^lse + e^sink) = ... * sigmoid(lse - sink)
        keep = torch.sigmoid(aux.lse - s_aux.float().view(1, -1, 1))
        out = (out.float() * keep.unsqueeze(-1)).to(query.dtype)
    return out.transpose(1, 2).contiguous(), None


def _mask_hook(
    module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    """Forward pre-hook on GptOssModel: hand it the block masks (as its precomputed mask mapping)."""
    if module.config._attn_implementation != ATTENTION_NAME or isinstance(kwargs.get("attention_mask"), dict):
        return None
    if kwargs.get("past_key_values") is not None:
        from medswallow.errors import UserError

        raise UserError(
            "the medswallow flex attention is a training path (no KV cache); for generation switch back with "
            "model.set_attn_implementation('eager')"
        )
    input_ids = kwargs.get("input_ids", args[0] if args else None)
    embeds = kwargs.get("inputs_embeds")
    source: Any = embeds if embeds is not None else input_ids
    batch, length = source.shape[:2]
    device = module.embed_tokens.weight.device
    ids = document_ids(kwargs.get("position_ids"), kwargs.get("attention_mask"), batch, length, device)
    kwargs["attention_mask"] = block_masks(module.config, ids)
    return args, kwargs


def register_flex_attention() -> None:
    """Make ``medswallow_flex`` a name transformers' attention interface knows (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, flex_sink_attention)


def install_flex_attention(model: Any, backbone: Any) -> None:
    """Switch ``model`` (the CausalLM) to flex attention with sinks; ``backbone`` is its GptOssModel."""
    register_flex_attention()
    model.set_attn_implementation(ATTENTION_NAME)
    if getattr(backbone, HOOK_ATTR, None) is None:
        # prepend: run before any other mask hook (e.g. the packed-sequence fix for eager), which then sees
        # a mask mapping and steps aside.
        handle = backbone.register_forward_pre_hook(_mask_hook, with_kwargs=True, prepend=True)
        setattr(backbone, HOOK_ATTR, handle)
