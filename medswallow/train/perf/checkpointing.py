"""Activation checkpointing by block: recompute what is cheap to recompute and costly to keep.

transformers' ``gradient_checkpointing`` recomputes every decoder layer whole. Once attention is
flex_attention (which saves only q, k, v, the output and the log-sum-exp), most of a gpt-oss layer's
activation memory is the MoE block (top-4 routed copies of every token, at 2x hidden width), so
recomputing the MoE block alone frees most of the memory for a fraction of the recompute. Policies:

- ``full``: whole layers (every ``checkpoint_every``-th);
- ``selective``: only the named blocks (``attention``, ``mlp``) of those layers;
- ``checkpoint_save_matmuls``: inside each checkpointed region keep matmul outputs and recompute only the
  elementwise ops (torch's selective checkpoint contexts).

Non-reentrant checkpointing throughout: it works with frozen inputs (LoRA), keyword arguments and FSDP2.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch

INNER_ATTR = "_medswallow_uncheckpointed_forward"


def _save_matmuls_policy(grouped: bool) -> Any:
    from torch.utils.checkpoint import CheckpointPolicy

    aten = torch.ops.aten
    saved = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}
    # transformers' own grouped_mm experts add the bias in place into the GEMM output, which a saved
    # tensor must not see; the medswallow experts path (experts: grouped/loop) never does.
    if grouped:
        for name in ("_grouped_mm", "grouped_mm"):
            op = getattr(aten, name, None)
            if op is not None:
                saved.add(op.default)

    def policy(ctx: Any, op: Any, *args: Any, **kwargs: Any) -> Any:
        return CheckpointPolicy.MUST_SAVE if op in saved else CheckpointPolicy.PREFER_RECOMPUTE

    return policy


def _context_fn(grouped: bool) -> Any:
    from torch.utils.checkpoint import create_selective_checkpoint_contexts

    return functools.partial(create_selective_checkpoint_contexts, _save_matmuls_policy(grouped))


def _checkpointed_forward(self: Any, *args: Any, **kwargs: Any) -> Any:
    inner = getattr(self, INNER_ATTR)
    if not (self.training and torch.is_grad_enabled()):
        return inner(*args, **kwargs)
    from torch.utils.checkpoint import checkpoint

    # A KV cache would be appended to twice (forward and recompute); training never reads it.
    if kwargs.get("past_key_values") is not None:
        kwargs["past_key_values"] = None
    if "use_cache" in kwargs:
        kwargs["use_cache"] = False
    save_matmuls, grouped = self._medswallow_save_matmuls
    if save_matmuls:
        return checkpoint(inner, *args, use_reentrant=False, context_fn=_context_fn(grouped), **kwargs)
    # No context_fn at all in the plain case: dynamo traces this form inside compiled layers.
    return checkpoint(inner, *args, use_reentrant=False, **kwargs)


def checkpoint_module(
    module: torch.nn.Module, save_matmuls: bool = False, grouped_out_of_place: bool = False
) -> None:
    """Recompute ``module``'s forward in the backward pass (wraps whatever forward it has now; idempotent).

    ``grouped_out_of_place``: grouped-GEMM outputs inside may be saved (set when the medswallow experts run).
    """
    if not hasattr(module, INNER_ATTR):
        setattr(module, INNER_ATTR, module.forward)
        # Bound methods, not closures, so copy.deepcopy of the model rebinds them to the copy.
        module.forward = types.MethodType(_checkpointed_forward, module)  # type: ignore[method-assign]
    module._medswallow_save_matmuls = (save_matmuls, grouped_out_of_place)  # type: ignore[assignment]


def apply_checkpointing(
    layers: list[torch.nn.Module],
    policy: str,
    blocks: list[str],
    every: int = 1,
    save_matmuls: bool = False,
    grouped_out_of_place: bool = False,
) -> int:
    """Install ``policy`` (none, full, selective) on gpt-oss decoder layers; returns how many regions."""
    if policy == "none":
        return 0
    attrs = {"attention": "self_attn", "mlp": "mlp"}
    regions = 0
    for index, layer in enumerate(layers):
        if index % every:
            continue
        targets = [layer] if policy == "full" else [getattr(layer, attrs[b]) for b in blocks]
        for target in targets:
            checkpoint_module(target, save_matmuls, grouped_out_of_place)
            regions += 1
    return regions
