"""gpt-oss MoE experts as grouped GEMMs, with LoRA on experts applied as low-rank products.

transformers' eager experts loop over experts; its ``grouped_mm`` path sorts the routed tokens by expert
and runs one grouped GEMM. With LoRA on experts, PEFT's ``ParamWrapper`` then materialises
``W + scale * A @ B`` for the whole expert stack on every forward (and its gradient on every backward):
for gpt-oss-20b that is a 32 x 2880 x 5760 tensor per adapted layer, twice per step with checkpointing.
Here the adapter stays factored: ``x @ W + scale * (x @ A_e) @ B_e``, all three as grouped GEMMs over the
same token groups, so the adapter costs ~2 x rank / hidden of the expert FLOPs and no expert-sized memory.

The replacement is the ``forward`` of each ``GptOssMLP`` (router + experts). It reads PEFT's wrappers at
call time, so it may be installed before or after ``get_peft_model``, and honours disabled, merged and
inactive adapters.
"""

from __future__ import annotations

import types
from typing import Any

import torch

LoraFactors = list[tuple[torch.Tensor, torch.Tensor, float]]
IMPL_ATTR = "_medswallow_experts"
FACTORS_ATTR = "_medswallow_lora_factors"


def _grouped_mm_fn() -> Any:
    return getattr(torch.nn.functional, "grouped_mm", None) or getattr(torch, "_grouped_mm", None)


def _aligned(t: torch.Tensor) -> bool:
    # torch's grouped_mm wants 16-byte aligned rows (a rank-4 bf16 LoRA factor is not). Inside a compiled
    # graph there is no data pointer to read (it would break the graph): inductor allocates aligned buffers.
    rows = (t.shape[-1] * t.element_size()) % 16 == 0
    return rows and (torch.compiler.is_compiling() or t.data_ptr() % 16 == 0)


def grouped_mm_supported(x: torch.Tensor, w: torch.Tensor) -> bool:
    """Whether torch's grouped GEMM kernel takes these operands on this device."""
    if _grouped_mm_fn() is None or x.dtype != w.dtype or not (_aligned(x) and _aligned(w)):
        return False
    if torch.compiler.is_compiling() and w.dtype != torch.bfloat16:
        return False  # the traced grouped GEMM (its meta kernel) takes bf16 only, on every device
    if w.device.type == "cuda":
        # The CUDA kernels are bf16 (SM80+); other dtypes go through the loop.
        return w.dtype == torch.bfloat16 and torch.cuda.get_device_capability(w.device) >= (8, 0)
    return w.device.type == "cpu"


def loop_mm(x: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Rows x[offsets[e-1]:offsets[e]] times w[e], one expert at a time (any shape, dtype, device)."""
    pieces = []
    start = 0
    for e, end in enumerate(offsets.tolist()):  # one host sync for all experts
        pieces.append(x[start:end] @ w[e])
        start = end
    return torch.cat(pieces)


def grouped_mm(
    x: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor, impl: str = "grouped"
) -> torch.Tensor:
    """[S, K] x [E, K, N] -> [S, N], row groups given by cumulative ``offsets`` (int32, length E)."""
    x = x.to(w.dtype).contiguous()
    w = w.contiguous()
    if impl == "grouped" and grouped_mm_supported(x, w):
        return _grouped_mm_fn()(x, w, offs=offsets)  # type: ignore[no-any-return]
    return loop_mm(x, w, offsets)


def grouped_linear(
    x: torch.Tensor, weight: torch.Tensor, offsets: torch.Tensor, lora: LoraFactors, impl: str
) -> torch.Tensor:
    """x @ (W + sum scale * A @ B) per expert group, the adapters kept factored."""
    out = grouped_mm(x, weight, offsets, impl)
    for lhs, rhs, scale in lora:
        # PEFT keeps adapters in float32; the grouped CUDA kernels take bf16 only, so factors in their own dtype
        # would send every LoRA GEMM through the per-expert loop. The cast is differentiable: the float32
        # adapter parameters still get their gradients.
        low = grouped_mm(x, lhs.to(weight.dtype), offsets, impl)
        out = out + scale * grouped_mm(low, rhs.to(weight.dtype), offsets, impl).to(out.dtype)
    return out


def _lora_factors(wrapper: Any, adapter: str) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(lhs [E, in, r], rhs [E, r, out], scale) of one PEFT ParamWrapper adapter: delta = scale * lhs @ rhs."""
    a = wrapper.lora_A[adapter].weight  # [r * E, in]
    b = wrapper.lora_B[adapter].weight  # [out, r * E]
    experts = wrapper.num_experts
    a = a.reshape(experts, -1, a.shape[-1])  # [E, r, in]
    b = b.reshape(b.shape[0], -1, experts).permute(2, 0, 1)  # [E, out, r]
    if getattr(wrapper, "_did_swap_in_out_features", False):
        raise ValueError("experts stored as [E, out, in] are not gpt-oss's layout")
    return a.transpose(-2, -1), b.transpose(-2, -1), float(wrapper.scaling[adapter])


def unwrap_experts(module: Any) -> tuple[Any, dict[str, LoraFactors]]:
    """The base GptOssExperts under any PEFT ParamWrappers, and the active adapters' factors per parameter."""
    lora: dict[str, LoraFactors] = {"gate_up_proj": [], "down_proj": []}
    while hasattr(module, "parameter_name") and hasattr(module, "lora_A"):
        if not module.disable_adapters and not module.merged:
            for name in module.active_adapters:
                if name in module.lora_A:
                    lora[module.parameter_name].append(_lora_factors(module, name))
        module = module.base_layer
    return module, lora


def experts_forward(
    experts: Any,
    hidden: torch.Tensor,
    router_indices: torch.Tensor,
    routing_weights: torch.Tensor,
    lora: dict[str, LoraFactors] | None = None,
    impl: str = "grouped",
) -> torch.Tensor:
    """The output of GptOssExperts for [T, H] tokens routed to top-k experts."""
    lora = lora or {"gate_up_proj": [], "down_proj": []}
    num_tokens, top_k = router_indices.shape
    expert_ids, order = torch.sort(router_indices.reshape(-1), stable=True)
    token_of_row = order // top_k
    # histc, not bincount: a fixed output size keeps compiled graphs static. CPU histc takes floats only.
    counted = expert_ids.float() if expert_ids.device.type == "cpu" else expert_ids.int()
    counts = torch.histc(counted, bins=experts.num_experts, min=0, max=experts.num_experts - 1)
    offsets = torch.cumsum(counts, 0, dtype=torch.int32)

    rows = hidden[token_of_row]
    gate_up = grouped_linear(rows, experts.gate_up_proj, offsets, lora["gate_up_proj"], impl)
    gate_up = gate_up + experts.gate_up_proj_bias[expert_ids]
    down = grouped_linear(experts._apply_gate(gate_up), experts.down_proj, offsets, lora["down_proj"], impl)
    down = down + experts.down_proj_bias[expert_ids]
    weighted = down * routing_weights.reshape(-1)[order, None]
    # Back to (token, k) order and sum over k: deterministic, unlike index_add_ on CUDA.
    restore = torch.empty_like(order)
    restore[order] = torch.arange(order.numel(), device=order.device)
    out = weighted[restore].view(num_tokens, top_k, -1).sum(dim=1)
    return out.to(hidden.dtype)


def prepare_factors(mlps: list[Any]) -> None:
    """Give each MLP its LoRA factors in the experts' dtype and row-major, made before the compiled layers run.

    Inside a compiled layer inductor picks the layout of a cast factor itself and may hand the grouped GEMM
    a [E, r, out] factor with the experts as the fastest dimension, which the kernel refuses ("Invalid
    strides/sizes"); tensors that enter the graph from outside keep the strides they have. The casts stay
    differentiable, so the adapter parameters get their gradients through them.
    """
    for mlp in mlps:
        if not hasattr(mlp, IMPL_ATTR):
            continue
        experts, lora = unwrap_experts(mlp.experts)
        dtype = experts.gate_up_proj.dtype
        setattr(
            mlp,
            FACTORS_ATTR,
            {
                name: [(lhs.to(dtype).contiguous(), rhs.to(dtype).contiguous(), scale) for lhs, rhs, scale in items]
                for name, items in lora.items()
            },
        )


def _moe_forward(self: Any, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GptOssMLP.forward with the experts computed by :func:`experts_forward`."""
    batch, length, dim = hidden_states.shape
    flat = hidden_states.reshape(-1, dim)
    _, router_scores, router_indices = self.router(flat)  # a module call: router-logit recorders still fire
    experts, lora = unwrap_experts(self.experts)
    prepared = getattr(self, FACTORS_ATTR, None)
    if prepared is not None:
        lora = prepared
    out = experts_forward(experts, flat, router_indices, router_scores, lora, getattr(self, IMPL_ATTR))
    return out.reshape(batch, length, dim), router_scores


def install_experts(mlp: Any, impl: str = "grouped") -> None:
    """Replace one GptOssMLP's forward (idempotent; ``impl``: grouped or loop)."""
    if not hasattr(mlp, IMPL_ATTR):
        mlp.forward = types.MethodType(_moe_forward, mlp)
    setattr(mlp, IMPL_ATTR, impl)
