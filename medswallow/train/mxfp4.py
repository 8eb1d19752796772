"""LoRA over gpt-oss experts kept in MXFP4, the format gpt-oss is released in: the 120B on one GPU.

The experts are ~98% of gpt-oss's weights. Kept as MXFP4 (4.25 bits a value) the 120B's experts take ~61 GB
instead of ~230 GB in bf16, so the frozen model fits one 141 GB GPU with room for activations, LoRA and its
optimizer. Attention, router, embeddings and head stay in the training dtype.

- **Format** (as in gpt-oss's released checkpoints and transformers' ``integrations/mxfp4.py``): an expert
  weight ``[E, in, out]`` is stored transposed, per output row, in blocks of 32 input values:
  ``*_blocks [E, out, in/32, 16]`` uint8 (two FP4 e2m1 codes per byte, low nibble first) and
  ``*_scales [E, out, in/32]`` uint8 (e8m0: the block's power-of-two exponent + 127). The quantizer picks the
  smallest exponent whose range holds the block's largest magnitude (``ceil(log2(amax / 6))``, no clipping)
  and rounds each value to the nearest FP4 code.
- **Loading** streams a checkpoint (bf16 or MXFP4) one tensor at a time: host memory is one tensor (the
  largest, a bf16 expert stack of 4.2 GB for the 120B), never the model.
- **Forward/backward**: per layer and per projection the experts are dequantized into one reusable scratch
  buffer (a Triton kernel on GPU, torch ops elsewhere) and multiplied with torch's grouped GEMM; the backward
  dequantizes again for the input gradient. The base experts get no gradient and no optimizer state. LoRA on
  experts stays factored (``x @ W + s * (x @ A) @ B``) as in :mod:`medswallow.train.perf.experts`.
- **Export** merges a PEFT adapter into bf16 weights tensor by tensor (:func:`merge_adapter_streaming`).

PEFT wraps expert parameters by name and reads their shape, dtype and device only; the MXFP4 experts
therefore keep ``gate_up_proj``/``down_proj`` as zero-stride placeholders of the right shape (two bytes
each) beside the ``*_blocks``/``*_scales`` buffers that hold the weights.
"""

from __future__ import annotations

import functools
import json
import math
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from medswallow.errors import UserError

FP4_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)
# Decision points between neighbouring FP4 magnitudes; a tie rounds to the smaller one.
FP4_MIDPOINTS = (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0)
BLOCK = 32
EXPERT_PARAMETERS = ("gate_up_proj", "down_proj")
BYTES_PER_VALUE = 0.5 + 1 / BLOCK  # 4 bits of code + one 8-bit scale per 32 values
CHUNK_VALUES = 1 << 26  # values quantized/dequantized per torch pass (bounds the temporaries: ~0.5 GB)
MXFP4_ATTR = "_medswallow_mxfp4"
IMPL_ATTR = "_medswallow_experts"  # medswallow.train.perf.experts keeps a forward that already set this

_DEQUANT_IMPL = {"name": "auto"}
_SCRATCH: dict[tuple[str, torch.dtype], torch.Tensor] = {}


# --------------------------------------------------------------------------------------------- the format


def quantize_mxfp4(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """HF expert weight ``[E, in, out]`` -> (blocks ``[E, out, in/32, 16]``, scales ``[E, out, in/32]``), uint8."""
    experts, k, n = weight.shape
    if k % BLOCK:
        raise ValueError(f"MXFP4 needs the input size to be a multiple of {BLOCK}; got {k}")
    blocks = torch.empty(experts, n, k // BLOCK, BLOCK // 2, dtype=torch.uint8, device=weight.device)
    scales = torch.empty(experts, n, k // BLOCK, dtype=torch.uint8, device=weight.device)
    quantize_into(weight, blocks, scales)
    return blocks, scales


def quantize_into(weight: torch.Tensor, blocks: torch.Tensor, scales: torch.Tensor) -> None:
    """Quantize ``weight [E, in, out]`` (any device; computed on ``blocks``' device) into preallocated buffers."""
    experts, k, n = weight.shape
    midpoints = torch.tensor(FP4_MIDPOINTS, dtype=torch.float32, device=blocks.device)
    step = max(1, CHUNK_VALUES // (k * n))
    for e0 in range(0, experts, step):
        e1 = min(experts, e0 + step)
        w = weight[e0:e1].to(blocks.device, torch.float32).transpose(1, 2).contiguous()
        groups = w.reshape(e1 - e0, n, k // BLOCK, BLOCK)
        amax = groups.abs().amax(-1, keepdim=True)
        exponent = torch.ceil(torch.log2(amax.clamp(min=1e-30) / 6.0)).clamp(-127, 127)
        scaled = groups / torch.exp2(exponent)
        magnitude = torch.bucketize(scaled.abs(), midpoints, out_int32=True)
        # A value that rounds to zero is +0 whatever its sign (code 0), as nearest-code search gives.
        codes = torch.where((scaled < 0) & (magnitude > 0), magnitude + 8, magnitude).to(torch.uint8)
        blocks[e0:e1] = codes[..., 0::2] | (codes[..., 1::2] << 4)
        scales[e0:e1] = (exponent.squeeze(-1) + 127).to(torch.uint8)


def set_dequant_impl(name: str) -> None:
    """``auto`` (Triton on CUDA when importable, else torch), ``triton`` or ``torch`` (benchmarks compare them)."""
    if name not in ("auto", "triton", "torch"):
        raise ValueError(f"unknown dequantization implementation {name!r}: auto, triton or torch")
    _DEQUANT_IMPL["name"] = name


def dequantize_mxfp4(
    blocks: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Blocks + scales -> ``[E, out, in]`` values of ``dtype`` (the HF weight is its ``transpose(1, 2)``)."""
    experts, n, groups, half = blocks.shape
    if out is None:
        out = torch.empty(experts, n, groups * 2 * half, dtype=dtype, device=blocks.device)
    impl = _DEQUANT_IMPL["name"]
    if impl == "auto":
        impl = "triton" if blocks.device.type == "cuda" and _triton_kernel() is not None else "torch"
    if impl == "triton":
        _dequantize_triton(blocks, scales, out)
    else:
        _dequantize_torch(blocks, scales, out)
    return out


def _dequantize_torch(blocks: torch.Tensor, scales: torch.Tensor, out: torch.Tensor) -> None:
    experts, n, groups, half = blocks.shape
    lut = torch.tensor(FP4_VALUES, dtype=out.dtype, device=blocks.device)
    step = max(1, CHUNK_VALUES // (n * groups * half * 2))
    for e0 in range(0, experts, step):
        e1 = min(experts, e0 + step)
        blk = blocks[e0:e1]
        pairs = out[e0:e1].view(e1 - e0, n, groups, half, 2)
        pairs[..., 0] = lut[(blk & 0x0F).int()]
        pairs[..., 1] = lut[(blk >> 4).int()]
        # Powers of two: the product is exact in any float dtype (down to its subnormals).
        scale = torch.exp2(scales[e0:e1].float() - 127).to(out.dtype)
        out[e0:e1].view(e1 - e0, n, groups, 2 * half).mul_(scale.unsqueeze(-1))


@functools.cache
def _triton_kernel() -> Any:
    """The Triton dequantization kernel, or None where Triton is not importable."""
    try:
        import triton
        import triton.language as tl
    except ImportError:
        return None

    @triton.jit  # type: ignore[misc]
    def mxfp4_dequant(blocks_ptr, scales_ptr, out_ptr, n_groups, GROUPS: tl.constexpr):  # type: ignore[no-untyped-def]
        # One program: GROUPS blocks of 16 bytes -> GROUPS x 32 values, one pass over the memory.
        pid = tl.program_id(0)
        g = pid.to(tl.int64) * GROUPS + tl.arange(0, GROUPS).to(tl.int64)
        b = tl.arange(0, 16)
        mask = g < n_groups
        byte = tl.load(blocks_ptr + g[:, None] * 16 + b[None, :], mask=mask[:, None], other=0).to(tl.int32)
        stored = tl.load(scales_ptr + g, mask=mask, other=127).to(tl.int32)
        # e8m0 -> float32 by its bit pattern (exact); 0 would be 2**-127, a float32 subnormal.
        scale = tl.where(stored > 0, (stored << 23).to(tl.float32, bitcast=True), 5.877471754111438e-39)

        lo = byte & 15
        hi = byte >> 4
        # e2m1: sign, 2 exponent bits, 1 mantissa bit; exponent 0 is subnormal (0 or 0.5).
        lo_e = (lo >> 1) & 3
        hi_e = (hi >> 1) & 3
        lo_v = tl.where(
            lo_e == 0,
            (lo & 1).to(tl.float32) * 0.5,
            ((lo & 1) + 2).to(tl.float32) * (1 << lo_e).to(tl.float32) * 0.25,
        )
        hi_v = tl.where(
            hi_e == 0,
            (hi & 1).to(tl.float32) * 0.5,
            ((hi & 1) + 2).to(tl.float32) * (1 << hi_e).to(tl.float32) * 0.25,
        )
        lo_v = tl.where((lo & 8) != 0, -lo_v, lo_v) * scale[:, None]
        hi_v = tl.where((hi & 8) != 0, -hi_v, hi_v) * scale[:, None]
        values = tl.reshape(tl.join(lo_v, hi_v), (GROUPS, 32))
        c = tl.arange(0, 32)
        tl.store(
            out_ptr + g[:, None] * 32 + c[None, :], values.to(out_ptr.dtype.element_ty), mask=mask[:, None]
        )

    return mxfp4_dequant


def _dequantize_triton(blocks: torch.Tensor, scales: torch.Tensor, out: torch.Tensor) -> None:
    kernel = _triton_kernel()
    if kernel is None:
        raise UserError(
            "MXFP4 dequantization with triton needs the triton package (it comes with CUDA torch)"
        )
    n_groups = scales.numel()
    groups_per_program = 64
    grid = (math.ceil(n_groups / groups_per_program),)
    kernel[grid](blocks, scales, out, n_groups, GROUPS=groups_per_program)


def scratch(numel: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """One reusable buffer per device and dtype (grown on demand) for dequantized experts.

    Safe to share between layers and projections: every user runs on the same stream, so a later
    dequantization is queued after the GEMM that read the earlier one.
    """
    key = (str(device), dtype)
    buf = _SCRATCH.get(key)
    if buf is None or buf.numel() < numel:
        _SCRATCH.pop(key, None)
        buf = torch.empty(numel, dtype=dtype, device=device)
        _SCRATCH[key] = buf
    return buf[:numel]


def release_scratch() -> None:
    """Free the dequantization buffers (after training, before a merge on the same GPU)."""
    _SCRATCH.clear()


def _dequantized(blocks: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    experts, n, groups, half = blocks.shape
    k = groups * 2 * half
    buf = scratch(experts * n * k, blocks.device, dtype).view(experts, n, k)
    return dequantize_mxfp4(blocks, scales, dtype, out=buf)


# ------------------------------------------------------------------------------------- forward and backward


def _grouped(x: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """[S, K] x [E, K, N] -> [S, N] by torch's grouped GEMM (w may be a transposed view), else one loop."""
    from medswallow.train.perf.experts import _grouped_mm_fn, grouped_mm_supported, loop_mm

    if grouped_mm_supported(x, w):
        return _grouped_mm_fn()(x, w, offs=offsets)  # type: ignore[no-any-return]
    return loop_mm(x, w, offsets)


class _Mxfp4GroupedMM(torch.autograd.Function):
    """``x @ W_e`` per expert group with ``W`` read from MXFP4; gradient to ``x`` only (the base is frozen)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, blocks: torch.Tensor, scales: torch.Tensor, offsets: torch.Tensor
    ) -> torch.Tensor:
        w = _dequantized(blocks, scales, x.dtype)  # [E, out, in]
        ctx.save_for_backward(blocks, scales, offsets)
        return _grouped(x.contiguous(), w.transpose(1, 2), offsets)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        blocks, scales, offsets = ctx.saved_tensors
        w = _dequantized(blocks, scales, grad.dtype)  # dequantized again: nothing expert-sized is kept
        return _grouped(grad.contiguous(), w, offsets), None, None, None


def mxfp4_linear(
    x: torch.Tensor, experts: Any, name: str, offsets: torch.Tensor, lora: Any, impl: str
) -> torch.Tensor:
    """x @ (W + sum scale * A @ B) per expert group, W from MXFP4, the adapters kept factored."""
    from medswallow.train.perf.experts import grouped_mm

    blocks = getattr(experts, f"{name}_blocks")
    scales = getattr(experts, f"{name}_scales")
    out = _Mxfp4GroupedMM.apply(x, blocks, scales, offsets)
    for lhs, rhs, scale in lora:
        # Adapters live in fp32; their GEMMs run in the activations' dtype (bf16 grouped kernels on GPU).
        low = grouped_mm(x, lhs.to(x.dtype), offsets, impl)
        out = out + scale * grouped_mm(low, rhs.to(x.dtype), offsets, impl).to(out.dtype)
    return out  # type: ignore[no-any-return]


def mxfp4_experts_forward(
    experts: Any,
    hidden: torch.Tensor,
    router_indices: torch.Tensor,
    routing_weights: torch.Tensor,
    lora: dict[str, Any],
    impl: str = "grouped",
) -> torch.Tensor:
    """GptOssExperts' output for [T, H] tokens routed to top-k experts, the experts read from MXFP4."""
    num_tokens, top_k = router_indices.shape
    expert_ids, order = torch.sort(router_indices.reshape(-1), stable=True)
    counted = expert_ids.float() if expert_ids.device.type == "cpu" else expert_ids.int()
    counts = torch.histc(counted, bins=experts.num_experts, min=0, max=experts.num_experts - 1)
    offsets = torch.cumsum(counts, 0, dtype=torch.int32)

    rows = hidden[order // top_k]
    gate_up = mxfp4_linear(rows, experts, "gate_up_proj", offsets, lora["gate_up_proj"], impl)
    gate_up = gate_up + experts.gate_up_proj_bias[expert_ids].to(gate_up.dtype)
    down = mxfp4_linear(experts._apply_gate(gate_up), experts, "down_proj", offsets, lora["down_proj"], impl)
    down = down + experts.down_proj_bias[expert_ids].to(down.dtype)
    weighted = down * routing_weights.reshape(-1)[order, None].to(down.dtype)
    restore = torch.empty_like(order)
    restore[order] = torch.arange(order.numel(), device=order.device)
    return weighted[restore].view(num_tokens, top_k, -1).sum(dim=1).to(hidden.dtype)


def _mxfp4_moe_forward(self: Any, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GptOssMLP.forward with MXFP4 experts."""
    from medswallow.train.perf.experts import unwrap_experts

    batch, length, dim = hidden_states.shape
    flat = hidden_states.reshape(-1, dim)
    _, router_scores, router_indices = self.router(flat)
    experts, lora = unwrap_experts(self.experts)
    out = mxfp4_experts_forward(experts, flat, router_indices, router_scores, lora, getattr(self, IMPL_ATTR))
    return out.reshape(batch, length, dim), router_scores


def _refuse_plain_forward(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(
        "these experts hold MXFP4 weights; they run through their GptOssMLP's forward (medswallow.train.mxfp4)"
    )


def placeholder(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.nn.Parameter:
    """A frozen zero-stride parameter of ``shape``: what PEFT needs to wrap an expert weight, two bytes big."""
    return torch.nn.Parameter(torch.zeros((), dtype=dtype, device=device).expand(shape), requires_grad=False)


def convert_experts(experts: Any, device: torch.device, dtype: torch.dtype) -> None:
    """Give one GptOssExperts empty MXFP4 buffers and placeholder weights (its forward refuses to run)."""
    for name in EXPERT_PARAMETERS:
        experts_, k, n = getattr(experts, name).shape
        if k % BLOCK:
            raise UserError(
                f"experts {name}: input size {k} is not a multiple of {BLOCK}; MXFP4 cannot hold it"
            )
        setattr(experts, name, placeholder((experts_, k, n), dtype, device))
        experts.register_buffer(
            f"{name}_blocks",
            torch.empty(experts_, n, k // BLOCK, BLOCK // 2, dtype=torch.uint8, device=device),
            persistent=False,
        )
        experts.register_buffer(
            f"{name}_scales",
            torch.empty(experts_, n, k // BLOCK, dtype=torch.uint8, device=device),
            persistent=False,
        )
    experts.forward = types.MethodType(_refuse_plain_forward, experts)
    setattr(experts, MXFP4_ATTR, True)


def install_mxfp4_forward(mlp: Any, impl: str = "grouped") -> None:
    """Route one GptOssMLP through the MXFP4 experts (the perf experts lever then keeps this forward)."""
    mlp.forward = types.MethodType(_mxfp4_moe_forward, mlp)
    setattr(mlp, IMPL_ATTR, impl)


def mxfp4_bytes(model: Any) -> int:
    """Bytes of MXFP4 expert storage in ``model`` (blocks and scales)."""
    return sum(b.numel() for n, b in model.named_buffers() if n.endswith(("_blocks", "_scales")))


# ------------------------------------------------------------------------------------------------ loading


def checkpoint_files(source: Path) -> list[Path]:
    """The safetensors files of an HF folder, in index order."""
    index = source / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [source / n for n in names]
    single = source / "model.safetensors"
    if single.is_file():
        return [single]
    raise UserError(
        f"{source}: no model.safetensors or model.safetensors.index.json (safetensors weights needed)"
    )


def iter_checkpoint(source: Path) -> Iterator[tuple[str, Any]]:
    """(name, lazy slice) of every tensor, shard by shard; a tensor is read only when asked for."""
    from safetensors import safe_open

    for path in checkpoint_files(source):
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for key in f.keys():  # noqa: SIM118 - safe_open has keys(), no iteration
                yield key, functools.partial(f.get_tensor, key)


def local_folder(source: str, revision: str | None = None) -> Path:
    """The folder of a local model or of a hub id already in the HF cache (the loader reads files directly)."""
    path = Path(source)
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(source, revision=revision, local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss (not cached, bad id, no hub package) gets the same advice
        raise UserError(
            f"model.experts_dtype: mxfp4 reads the weights from a folder; {source!r} is neither a local folder "
            f"nor in the HF cache: download it first (hf download {source} --local-dir DIR) and point "
            "model.name_or_path at DIR"
        ) from None


def _plain_config(config: Any) -> Any:
    if getattr(config, "quantization_config", None) is None:
        return config
    data = {k: v for k, v in config.to_dict().items() if k != "quantization_config"}
    return config.__class__.from_dict(data)


def build_mxfp4_model(config: Any, device: torch.device, dtype: torch.dtype, attn_implementation: str) -> Any:
    """A GptOssForCausalLM with MXFP4 expert buffers and uninitialised other weights on ``device``."""
    from transformers import AutoModelForCausalLM
    from transformers.models.gpt_oss.modeling_gpt_oss import GptOssExperts, GptOssMLP

    config = _plain_config(config)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn_implementation)
    for module in model.modules():
        if isinstance(module, GptOssExperts):
            convert_experts(module, device, dtype)
    for name, param in list(model.named_parameters()):
        if param.is_meta:
            owner, _, attr = name.rpartition(".")
            module = model.get_submodule(owner)
            module._parameters[attr] = torch.nn.Parameter(
                torch.empty(param.shape, dtype=param.dtype, device=device), requires_grad=param.requires_grad
            )
    rotary = (
        model.model.rotary_emb
    )  # its inv_freq is computed, not stored: build it again off the meta device
    with torch.device("cpu"):
        model.model.rotary_emb = type(rotary)(config=config).to(device)
    leftover = [n for n, b in model.named_buffers() if b.is_meta]
    if leftover:
        raise RuntimeError(f"buffers left on the meta device: {leftover[:5]}")
    for module in model.modules():
        if isinstance(module, GptOssMLP):
            install_mxfp4_forward(module)
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    return model


def init_random(model: Any, seed: int) -> None:
    """Random weights as transformers initialises gpt-oss; experts drawn per layer in bf16 and quantized."""
    from transformers.models.gpt_oss.modeling_gpt_oss import GptOssExperts

    torch.manual_seed(seed)
    std = model.config.initializer_range
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, GptOssExperts):
                model._init_weights(module)
                continue
            module.gate_up_proj_bias.zero_()
            module.down_proj_bias.zero_()
            for name in EXPERT_PARAMETERS:
                e, k, n = getattr(module, name).shape
                blocks, scales = getattr(module, f"{name}_blocks"), getattr(module, f"{name}_scales")
                step = max(1, CHUNK_VALUES // (k * n))
                for e0 in range(0, e, step):
                    e1 = min(e, e0 + step)
                    w = torch.randn(e1 - e0, k, n, device=blocks.device, dtype=torch.bfloat16) * std
                    quantize_into(w, blocks[e0:e1], scales[e0:e1])


def _expert_target(model: Any, key: str) -> tuple[Any, str, str] | None:
    """(experts module, parameter, suffix) when ``key`` names an expert weight, bf16 or MXFP4."""
    for name in EXPERT_PARAMETERS:
        for suffix in ("", "_blocks", "_scales"):
            tail = f".{name}{suffix}"
            if key.endswith(tail) and ".experts" in key:
                module = model.get_submodule(key[: -len(tail)])
                if getattr(module, MXFP4_ATTR, False):
                    return module, name, suffix
    return None


def load_weights(model: Any, source: Path) -> dict[str, int]:
    """Fill ``model`` from a checkpoint, one tensor at a time; bf16 experts are quantized on the model's device.

    Returns counts of what was read (tensors, experts quantized, experts already MXFP4).
    """
    params = dict(model.named_parameters())
    missing = {n for n, p in params.items() if p.stride() != (0,) * p.dim() or p.dim() == 0}
    stats = {"tensors": 0, "quantized": 0, "mxfp4": 0}
    with torch.no_grad():
        for key, read in iter_checkpoint(source):
            target = _expert_target(model, key)
            if target is not None:
                module, name, suffix = target
                tensor = read()
                if suffix == "":
                    quantize_into(
                        tensor, getattr(module, f"{name}_blocks"), getattr(module, f"{name}_scales")
                    )
                    stats["quantized"] += 1
                else:
                    buf = getattr(module, f"{name}{suffix}")
                    if tuple(tensor.shape) != tuple(buf.shape):
                        raise UserError(
                            f"{source}: {key} has shape {tuple(tensor.shape)}, the config needs {tuple(buf.shape)}"
                        )
                    buf.copy_(tensor)
                    stats["mxfp4"] += suffix == "_blocks"
            elif key in params:
                tensor = read()
                if tuple(tensor.shape) != tuple(params[key].shape):
                    raise UserError(
                        f"{source}: {key} has shape {tuple(tensor.shape)}, the config needs {tuple(params[key].shape)}"
                    )
                params[key].copy_(tensor)
                missing.discard(key)
            else:
                raise UserError(
                    f"{source}: tensor {key} matches nothing in the gpt-oss model its config.json describes"
                )
            stats["tensors"] += 1
    missing -= {
        n
        for n in missing
        if n.endswith("lm_head.weight") and getattr(model.config, "tie_word_embeddings", False)
    }
    if missing:
        raise UserError(f"{source}: weights missing from the checkpoint: {sorted(missing)[:5]}")
    experts = sum(1 for m in model.modules() if getattr(m, MXFP4_ATTR, False)) * len(EXPERT_PARAMETERS)
    if stats["quantized"] + stats["mxfp4"] != experts:
        raise UserError(
            f"{source}: {stats['quantized'] + stats['mxfp4']} expert weights found, the config has {experts}"
        )
    return stats


def load_mxfp4_model(
    config: Any,
    source: Path | None,
    *,
    device: torch.device,
    dtype: torch.dtype,
    attn_implementation: str,
    seed: int = 42,
) -> Any:
    """The model of ``config`` with MXFP4 experts on ``device``: from ``source`` (bf16 or MXFP4), or random."""
    model_type = getattr(config, "model_type", None)
    if model_type != "gpt_oss":
        raise UserError(
            f"model.experts_dtype: mxfp4 is for gpt-oss models; this one is {model_type!r}: use bf16"
        )
    model = build_mxfp4_model(config, device, dtype, attn_implementation)
    if source is None:
        init_random(model, seed)
    else:
        load_weights(model, source)
    return model


# ------------------------------------------------------------------------------------------------- export


def _adapter_deltas(adapter_dir: Path, config: Any) -> dict[str, list[tuple[str, str, float]]]:
    """Base weight name -> [(lora_A key, lora_B key, scale)] of a PEFT adapter (linear and expert targets)."""
    from safetensors import safe_open

    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise UserError(
            f"{adapter_dir}: rank_pattern/alpha_pattern adapters are not supported by the streaming merge"
        )
    r, alpha = int(cfg["r"]), float(cfg["lora_alpha"])
    scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
    hidden, inter = int(config.hidden_size), int(config.intermediate_size)
    deltas: dict[str, list[tuple[str, str, float]]] = {}
    with safe_open(str(adapter_dir / "adapter_model.safetensors"), framework="pt", device="cpu") as f:
        keys = set(f.keys())
        for a_key in sorted(k for k in keys if k.endswith(".lora_A.weight")):
            b_key = a_key.replace(".lora_A.weight", ".lora_B.weight")
            path = a_key.removesuffix(".lora_A.weight").removeprefix("base_model.model.")
            if path.endswith(".mlp.experts") or ".mlp.experts.base_layer" in path:
                # Nested ParamWrappers: which parameter is told by the shapes ([r*E, in], [out, r*E]).
                module = path.split(".mlp.experts")[0] + ".mlp.experts"
                inp = f.get_slice(a_key).get_shape()[1]
                out = f.get_slice(b_key).get_shape()[0]
                name = "gate_up_proj" if (inp, out) == (hidden, 2 * inter) else "down_proj"
                deltas.setdefault(f"{module}.{name}", []).append((a_key, b_key, scale))
            else:
                deltas.setdefault(f"{path}.weight", []).append((a_key, b_key, scale))
    return deltas


def _delta(
    f: Any, name: str, a_key: str, b_key: str, scale: float, experts: int, device: torch.device
) -> torch.Tensor:
    a = f.get_tensor(a_key).to(device, torch.float32)
    b = f.get_tensor(b_key).to(device, torch.float32)
    if ".experts." not in name:
        return scale * (b @ a)  # nn.Linear weight [out, in]
    # PEFT's ParamWrapper layout (see medswallow.train.perf.experts._lora_factors): delta [E, in, out].
    lhs = a.reshape(experts, -1, a.shape[-1]).transpose(-2, -1)
    rhs = b.reshape(b.shape[0], -1, experts).permute(2, 0, 1).transpose(-2, -1)
    return scale * torch.bmm(lhs, rhs)


def merge_adapter_streaming(
    base: str | Path,
    adapter_dir: Path,
    out_dir: Path,
    dtype: str = "bfloat16",
    *,
    max_shard_bytes: int = 5 * 2**30,
    device: str | None = None,
) -> Path:
    """Merge a LoRA adapter into a bf16 or MXFP4 gpt-oss checkpoint, one tensor at a time, as an HF folder.

    MXFP4 experts are dequantized, every targeted weight gets ``W + scale * B @ A`` (experts: per expert),
    and the result is written in ``dtype`` in shards of at most ``max_shard_bytes``: host memory stays at
    about one shard plus one tensor, whatever the model's size. vLLM serves the folder as it is.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file
    from transformers import AutoConfig

    base = local_folder(str(base))
    if not (adapter_dir / "adapter_config.json").is_file():
        raise UserError(f"{adapter_dir} is not a LoRA adapter folder (no adapter_config.json)")
    config = AutoConfig.from_pretrained(str(base))
    out_dtype = getattr(torch, dtype)
    run_on = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    deltas = _adapter_deltas(adapter_dir, config)
    experts = int(config.num_local_experts)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("model*.safetensors"):
        old.unlink()  # a rerun into the same folder must not leave shards of the last one behind

    shard: dict[str, torch.Tensor] = {}
    shard_bytes = 0
    names: list[list[str]] = []
    pending: dict[str, torch.Tensor] = {}  # an MXFP4 half (blocks or scales) waiting for the other
    used: set[str] = set()

    def flush() -> None:
        nonlocal shard, shard_bytes
        if shard:
            save_file(shard, str(out_dir / f"part-{len(names):05d}.safetensors"), metadata={"format": "pt"})
            names.append(list(shard))
            shard, shard_bytes = {}, 0

    def emit(name: str, weight: torch.Tensor) -> None:
        nonlocal shard_bytes
        for a_key, b_key, scale in deltas.get(name, []):
            weight = weight.to(run_on, torch.float32) + _delta(
                lora, name, a_key, b_key, scale, experts, run_on
            )
            used.add(name)
        if weight.is_floating_point():
            weight = weight.to(out_dtype)
        weight = weight.to("cpu").contiguous()
        if shard and shard_bytes + weight.nbytes > max_shard_bytes:
            flush()
        shard[name] = weight
        shard_bytes += weight.nbytes

    with safe_open(str(adapter_dir / "adapter_model.safetensors"), framework="pt", device="cpu") as lora:
        for key, read in iter_checkpoint(base):
            if key.endswith(("_blocks", "_scales")) and ".experts." in key:
                stem = key.rsplit("_", 1)[0]
                half = "blocks" if key.endswith("_blocks") else "scales"
                pending[f"{stem}:{half}"] = read()
                if f"{stem}:blocks" in pending and f"{stem}:scales" in pending:
                    blocks = pending.pop(f"{stem}:blocks").to(run_on)
                    scales = pending.pop(f"{stem}:scales").to(run_on)
                    emit(stem, dequantize_mxfp4(blocks, scales, torch.float32).transpose(1, 2))
                continue
            emit(key, read())
        flush()
    if pending:
        raise UserError(f"{base}: MXFP4 tensors without their other half: {sorted(pending)[:3]}")
    unused = sorted(set(deltas) - used)
    if unused:
        raise UserError(f"{adapter_dir}: adapter weights for {unused[:3]} match no weight of {base}")

    total = len(names)
    weight_map: dict[str, str] = {}
    for i, keys in enumerate(names):
        final = f"model-{i + 1:05d}-of-{total:05d}.safetensors"
        (out_dir / f"part-{i:05d}.safetensors").rename(out_dir / final)
        weight_map.update(dict.fromkeys(keys, final))
    size = sum((out_dir / f).stat().st_size for f in set(weight_map.values()))
    (out_dir / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": size}, "weight_map": weight_map}, indent=2) + "\n"
    )
    plain = _plain_config(config)
    plain.dtype = out_dtype
    plain.save_pretrained(str(out_dir))
    _copy_tokenizer(base, adapter_dir, out_dir)
    return out_dir


TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
    "chat_template.json", "generation_config.json",
)  # fmt: skip


def _copy_tokenizer(base: Path, adapter_dir: Path, out_dir: Path) -> None:
    """Tokenizer files (the adapter's, as training saved them, else the base's) and generation defaults.

    Copied as files: loading the 201k-token tokenizer only to save it again costs seconds and changes nothing.
    """
    import shutil

    for name in TOKENIZER_FILES:
        source = (
            adapter_dir / name
            if (adapter_dir / name).is_file() and name != "generation_config.json"
            else base / name
        )
        if source.is_file():
            shutil.copy2(source, out_dir / name)


# ------------------------------------------------------------------------------------------------- memory


def expert_values(config: Any) -> int:
    """Values in the expert weights of a gpt-oss config (gate_up H x 2I and down I x H per expert and layer)."""
    layers = int(getattr(config, "num_hidden_layers", 0))
    experts = int(getattr(config, "num_local_experts", 0))
    hidden, inter = int(getattr(config, "hidden_size", 0)), int(getattr(config, "intermediate_size", 0))
    return layers * experts * 3 * hidden * inter


def weight_bytes(config: Any, total: int, trainable: int, dtype_bytes: int, experts_dtype: str) -> float:
    """Bytes of the model on the device: base weights (experts MXFP4 or not), the dequantization scratch
    buffer (one projection of one layer), and for MXFP4 the fp32 LoRA weights, which PEFT adds to the model."""
    if experts_dtype != "mxfp4":
        return float(total * dtype_bytes)
    experts = expert_values(config)
    per_layer = (
        int(getattr(config, "num_local_experts", 0))
        * 2
        * int(getattr(config, "hidden_size", 0))
        * int(getattr(config, "intermediate_size", 0))
    )
    return (
        (total - experts) * dtype_bytes + experts * BYTES_PER_VALUE + per_layer * dtype_bytes + trainable * 4
    )


def placement_note(
    config: Any, counts: tuple[int, int], memory: Any, experts_dtype: str, dtype_bytes: int, usable: float
) -> str | None:
    """Which GPUs the run needs with bf16 and with MXFP4 experts (for gpt-oss LoRA plans), from one estimate."""
    if getattr(config, "model_type", None) != "gpt_oss":
        return None
    total, trainable = counts
    rest = memory.activations + memory.overhead
    lora = memory.gradients + memory.optimizer

    def need(dtype: str, shards: int) -> float:
        return float((weight_bytes(config, total, trainable, dtype_bytes, dtype) + lora) / shards + rest)

    mxfp4 = need("mxfp4", 1)
    gpus = next((n for n in (1, 2, 4, 8, 16, 32, 64) if need("bf16", n) <= usable), None)
    bf16 = f"bf16 experts need {need('bf16', 1) / 2**30:.0f} GiB on one GPU" + (
        f" (fits: {gpus} GPU{'s with FSDP/ZeRO-3' if gpus > 1 else ''})"
        if gpus
        else " (more than 64 GPUs' worth)"
    )
    mx = f"MXFP4 experts (model.experts_dtype: mxfp4) need {mxfp4 / 2**30:.0f} GiB: " + (
        "one GPU" if mxfp4 <= usable else f"more than one GPU of {usable / 2**30:.0f} GiB usable"
    )
    if experts_dtype != "mxfp4" and gpus == 1:
        return None  # fits as it is: nothing to say
    return f"{bf16}; {mx}"
