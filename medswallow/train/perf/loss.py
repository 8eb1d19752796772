"""Cross-entropy over gpt-oss's 201,088-token vocabulary without the [tokens x vocab] logits.

The reference (``lm_head`` then ``F.cross_entropy``) keeps bf16 logits, their fp32 copy and the fp32 softmax
gradient alive at once: 8,192 tokens x 201,088 x (2 + 4 + 4) bytes = 16 GB per micro-batch. Here only the
tokens that carry a label are projected, a chunk at a time; the gradient of each chunk is computed right
away (softmax minus one-hot) and folded into the hidden-state and weight gradients, so the backward pass
does no recomputation and the peak is one chunk of logits. Semantics are those of transformers'
``ForCausalLMLoss``: labels shift left by one, ``-100`` is ignored, the sum is divided by
``num_items_in_batch`` when given (gradient accumulation) and by the number of labelled tokens otherwise.
"""

from __future__ import annotations

import types
from typing import Any

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
INNER_FORWARD = "_medswallow_loss_inner_forward"


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """sum over rows of CE(hidden @ weight.T, targets) / denominator; every row has a valid target."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        targets: torch.Tensor,
        denominator: torch.Tensor,
        chunk_tokens: int,
    ) -> torch.Tensor:
        need_hidden = ctx.needs_input_grad[0]
        need_weight = ctx.needs_input_grad[1]
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if need_hidden else None
        # fp32 accumulation over chunks, like the reference's single fp32 GEMM over all rows.
        grad_weight = (
            torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_weight else None
        )
        scale = 1.0 / denominator.to(torch.float32)
        for start in range(0, hidden.shape[0], chunk_tokens):
            h = hidden[start : start + chunk_tokens]
            t = targets[start : start + chunk_tokens]
            logits = (h @ weight.t()).float()  # the reference upcasts the logits before the softmax too
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            if need_hidden or need_weight:
                grad = torch.exp(logits.sub_(lse[:, None]))  # softmax, in place of the logits
                grad[torch.arange(t.numel(), device=t.device), t] -= 1.0
                grad = (grad * scale).to(hidden.dtype)
                if grad_hidden is not None:
                    grad_hidden[start : start + chunk_tokens] = grad @ weight
                if grad_weight is not None:
                    grad_weight += (grad.t() @ h).float()
        ctx.save_for_backward(
            grad_hidden if grad_hidden is not None else torch.empty(0),
            grad_weight if grad_weight is not None else torch.empty(0),
        )
        ctx.weight_dtype = weight.dtype
        return total * scale

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        grad_hidden, grad_weight = ctx.saved_tensors
        gh = grad_hidden * grad_output.to(grad_hidden.dtype) if ctx.needs_input_grad[0] else None
        gw = (grad_weight * grad_output).to(ctx.weight_dtype) if ctx.needs_input_grad[1] else None
        return gh, gw, None, None, None


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_items_in_batch: int | torch.Tensor | None = None,
    chunk_tokens: int = 1024,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """CE of ``hidden @ weight.T`` against ``labels`` (already aligned: row i predicts labels[i]).

    ``hidden``: [N, H]; ``weight``: [V, H]; ``labels``: [N] with ``ignore_index`` where no loss is taken.
    Returns a differentiable scalar; a batch with no labelled token gives a differentiable zero.
    """
    keep = labels != ignore_index
    rows = keep.nonzero().squeeze(1)
    count = rows.numel()
    if num_items_in_batch is None:
        denominator = torch.tensor(max(count, 1), device=hidden.device)
    else:
        denominator = torch.as_tensor(num_items_in_batch, device=hidden.device)
    if count == 0:
        return (hidden.sum() * 0.0 + weight.sum() * 0.0).float()
    return _ChunkedLinearCrossEntropy.apply(  # type: ignore[no-any-return]
        hidden.index_select(0, rows), weight, labels.index_select(0, rows), denominator, chunk_tokens
    )


def liger_linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_items_in_batch: int | torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    **_: Any,
) -> torch.Tensor:
    """The same loss through liger-kernel's fused Triton kernel (GPU only)."""
    from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss

    loss_fn = LigerFusedLinearCrossEntropyLoss(ignore_index=ignore_index, reduction="sum")
    total = loss_fn(weight, hidden, labels)
    denominator = (
        (labels != ignore_index).sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
    )
    return total / denominator  # type: ignore[no-any-return]


def liger_available() -> bool:
    try:
        import liger_kernel  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


def shifted_labels(labels: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Labels aligned with the hidden state that predicts them (the last position predicts nothing)."""
    return F.pad(labels, (0, 1), value=ignore_index)[..., 1:]


def _chunked_loss_forward(
    self: Any,
    input_ids: torch.Tensor | None = None,
    attention_mask: Any = None,
    position_ids: torch.Tensor | None = None,
    past_key_values: Any = None,
    inputs_embeds: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    use_cache: bool | None = None,
    output_router_logits: bool | None = None,
    logits_to_keep: int | torch.Tensor = 0,
    **kwargs: Any,
) -> Any:
    """GptOssForCausalLM.forward, except that with labels the loss comes without logits (``logits`` is None)."""
    shift_labels = kwargs.pop("shift_labels", None)
    lm_head = self.lm_head
    plain_head = type(lm_head) is torch.nn.Linear and lm_head.bias is None
    if (labels is None and shift_labels is None) or not plain_head:
        # No loss to take (generation, logits wanted), or an adapted lm_head: the model's own path.
        return getattr(self, INNER_FORWARD)(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            labels=labels,
            use_cache=use_cache,
            output_router_logits=output_router_logits,
            logits_to_keep=logits_to_keep,
            **({"shift_labels": shift_labels} if shift_labels is not None else {}),
            **kwargs,
        )
    from transformers.modeling_outputs import MoeCausalLMOutputWithPast
    from transformers.models.gpt_oss.modeling_gpt_oss import load_balancing_loss_func

    num_items_in_batch = kwargs.pop("num_items_in_batch", None)
    if output_router_logits is None:
        output_router_logits = self.config.output_router_logits
    outputs = self.model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        past_key_values=past_key_values,
        inputs_embeds=inputs_embeds,
        use_cache=use_cache,
        output_router_logits=output_router_logits,
        **kwargs,
    )
    hidden = outputs.last_hidden_state
    targets = shift_labels if shift_labels is not None else shifted_labels(labels)  # type: ignore[arg-type]
    loss_fn = liger_linear_cross_entropy if self._medswallow_loss == "liger" else linear_cross_entropy
    loss = loss_fn(
        hidden.reshape(-1, hidden.shape[-1]),
        lm_head.weight,
        targets.reshape(-1).to(hidden.device),
        num_items_in_batch=num_items_in_batch,
        chunk_tokens=self._medswallow_loss_chunk_tokens,
    )
    aux_loss = None
    if output_router_logits:
        aux_loss = load_balancing_loss_func(
            outputs.router_logits, self.num_experts, self.num_experts_per_tok, attention_mask
        )
        loss = loss + self.router_aux_loss_coef * torch.as_tensor(aux_loss, device=loss.device)
    fields: dict[str, Any] = {
        "loss": loss,
        "aux_loss": aux_loss,
        "logits": None,  # the point of this forward: no [tokens x vocab] tensor
        "past_key_values": outputs.past_key_values,
        "hidden_states": outputs.hidden_states,
        "attentions": outputs.attentions,
        "router_logits": outputs.router_logits,
    }
    return MoeCausalLMOutputWithPast(**fields)


def install_chunked_loss(causal_lm: Any, kind: str = "chunked", chunk_tokens: int = 1024) -> None:
    """Make ``causal_lm(..., labels=...)`` compute its loss with ``kind`` ("chunked" or "liger"). Idempotent."""
    if not hasattr(causal_lm, INNER_FORWARD):
        setattr(causal_lm, INNER_FORWARD, causal_lm.forward)
        # A bound method (not a closure) so copy.deepcopy of the model rebinds it to the copy.
        causal_lm.forward = types.MethodType(_chunked_loss_forward, causal_lm)
    causal_lm._medswallow_loss = kind
    causal_lm._medswallow_loss_chunk_tokens = chunk_tokens
