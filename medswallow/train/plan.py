"""The plan of a training run (tokens, steps, memory per device) and the check that it fits, before any GPU time.

The memory model is an estimate with its assumptions in the open: weights, gradients and AdamW states per
trainable parameter, activations for the sequence length and batch (checkpointed layer inputs plus one
layer's working set, with the attention score matrix when the kernel materialises it), plus a fixed
allowance for the CUDA context and allocator. Calibrated on TRL's gpt-oss-20b LoRA recipe on one H100
(eager: 48.8 GiB measured, flex_attention: 44.6 GiB).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medswallow.console import console
from medswallow.errors import UserError
from medswallow.train.data import TrainData
from medswallow.train.recipe import BaseRecipe

GIB = 2**30
RUNTIME_OVERHEAD_GIB = 1.0  # CUDA context, NCCL buffers, allocator slack


@dataclass
class MemoryEstimate:
    """Bytes per device, by what holds them."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    overhead: float = RUNTIME_OVERHEAD_GIB * GIB

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.overhead


@dataclass
class TrainPlan:
    kind: str
    method: str
    model: str
    device: str
    attention: str
    dtype: str
    total_params: int
    trainable_params: int
    examples: int
    tokens: int
    sequences: int
    max_length: int
    devices: int
    sharding: str
    sequences_per_step: int
    steps: int
    memory: MemoryEstimate
    device_memory_gib: float
    headroom: float
    notes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.memory.total <= self.device_memory_gib * GIB * self.headroom

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["memory"] = {k: round(v / GIB, 2) for k, v in asdict(self.memory).items()}
        d["memory"]["total"] = round(self.memory.total / GIB, 2)
        d["fits"] = self.fits
        return d


def detect_devices(recipe: BaseRecipe) -> tuple[int, str]:
    """(data-parallel processes, sharding) from the recipe or the launcher's environment."""
    plan = recipe.plan
    devices = int(os.environ.get("WORLD_SIZE", "1")) if plan.devices == "auto" else int(plan.devices)
    sharding = plan.sharding
    if sharding == "auto" and not _cuda():
        sharding = "none"  # accelerate shards only on GPUs; CPU processes run plain data parallel
    if sharding == "auto":
        if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
            sharding = "fsdp"
        elif os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true" and (
            os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3") == "3"
        ):
            sharding = "zero3"
        else:
            sharding = "none"
    return max(1, devices), sharding


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def device_memory_gib(recipe: BaseRecipe, device_type: str) -> float:
    if recipe.plan.device_memory_gib != "auto":
        return float(recipe.plan.device_memory_gib)
    if device_type == "cuda":
        import torch

        return torch.cuda.get_device_properties(0).total_memory / GIB
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # CPU processes of one machine share its RAM
    return ram / GIB / max(1, local)


def estimate_memory(
    config: Any,
    total: int,
    trainable: int,
    *,
    method: str,
    weight_bytes: int,
    batch: int,
    seq: int,
    attention: str,
    checkpointing: bool,
    packed_flat: bool,
    shard: int,
) -> MemoryEstimate:
    """Per-device bytes for one training step (see the module docstring for what is counted)."""
    hidden = int(getattr(config, "hidden_size", 0))
    layers = int(getattr(config, "num_hidden_layers", 0))
    heads = int(getattr(config, "num_attention_heads", 0))
    inter = int(getattr(config, "intermediate_size", 0))
    top_k = int(getattr(config, "num_experts_per_tok", 1) or 1)
    act = weight_bytes
    # LoRA adapters live in fp32 (PEFT upcasts them); full fine-tuning keeps the weights' dtype.
    trainable_bytes = 4 if method == "lora" else weight_bytes
    weights = total * weight_bytes / shard
    gradients = trainable * trainable_bytes / shard
    optimizer = 2 * trainable * trainable_bytes / shard  # AdamW: exp_avg and exp_avg_sq
    tokens = batch * seq
    # Padding-free packing flattens the micro-batch into one row: eager attention then spans all of it.
    attn_rows, attn_len = (1, tokens) if packed_flat else (batch, seq)
    scores = attn_rows * heads * attn_len * attn_len * (4 + 2 * act) if attention == "eager" else 0
    layer_work = tokens * hidden * act * 20 + tokens * top_k * 2 * inter * act * 3 + scores
    if checkpointing:
        activations = layers * tokens * hidden * act + layer_work
    else:
        activations = layers * layer_work
    activations += tokens * hidden * 4 * 2  # fused LM head tiles and the loss
    return MemoryEstimate(weights, gradients, optimizer, activations)


def make_plan(
    recipe: BaseRecipe, data: TrainData, config: Any, counts: tuple[int, int], *, max_length: int, packed: str
) -> TrainPlan:
    """Steps, tokens and memory of the run ``recipe`` describes over ``data``."""
    from medswallow.train.modeling import resolve_attention, resolve_dtype, training_device

    device = training_device()
    devices, sharding = detect_devices(recipe)
    dtype = resolve_dtype(recipe.model, device)
    attention = resolve_attention(recipe.model, device)
    t = recipe.train
    tokens = data.tokens
    sequences = math.ceil(tokens / max_length) if packed != "none" else data.examples
    per_step = t.per_device_batch_size * t.gradient_accumulation_steps * devices
    batches_per_device = math.ceil(math.ceil(sequences / devices) / t.per_device_batch_size)
    updates_per_epoch = max(1, batches_per_device // t.gradient_accumulation_steps)
    steps = t.max_steps if t.max_steps > 0 else math.ceil(t.epochs * updates_per_epoch)
    weight_bytes = 2 if str(dtype) == "torch.bfloat16" else 4
    total, trainable = counts
    memory = estimate_memory(
        config,
        total,
        trainable,
        method=recipe.method,
        weight_bytes=weight_bytes,
        batch=t.per_device_batch_size,
        seq=max_length,
        attention=attention,
        checkpointing=recipe.model.gradient_checkpointing,
        packed_flat=packed in ("bfd", "bfd_split"),
        shard=devices if sharding in ("fsdp", "zero3") else 1,
    )
    notes = []
    if device.type == "cuda" and attention == "eager":
        notes.append(
            "eager attention on GPU: flex_attention (model.attn_implementation: auto) is ~2.5x faster"
        )
    if packed == "wrapped":
        notes.append(
            "wrapped packing: documents in one row attend to each other (standard pre-training practice)"
        )
    if data.retention_repeats > 1:
        notes.append(
            f"retention data repeated {data.retention_repeats:.1f}x to reach the ratio; add more of it"
        )
    if sequences < per_step:
        notes.append(f"fewer sequences ({sequences}) than one optimizer step takes ({per_step})")
    return TrainPlan(
        kind=recipe.kind,
        method=recipe.method,
        model=recipe.model.name_or_path,
        device=device.type if devices == 1 else f"{devices} x {device.type}",
        attention=attention,
        dtype=str(dtype).removeprefix("torch."),
        total_params=total,
        trainable_params=trainable,
        examples=data.examples,
        tokens=tokens,
        sequences=sequences,
        max_length=max_length,
        devices=devices,
        sharding=sharding,
        sequences_per_step=per_step,
        steps=steps,
        memory=memory,
        device_memory_gib=device_memory_gib(recipe, device.type),
        headroom=recipe.plan.headroom,
        notes=notes,
    )


def _n(x: float) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.2f}{unit}"
    return f"{x:.0f}"


def print_plan(plan: TrainPlan, data: TrainData) -> None:
    """The plan as two tables: data sources, then run and memory."""
    from rich.table import Table

    src = Table(title="training data", title_justify="left")
    for col in ("source", "role", "rows read", "kept", "dropped (reasons)", "tokens"):
        src.add_column(col, justify="left" if col in ("source", "role", "dropped (reasons)") else "right")
    for r in data.reports:
        reasons = ", ".join(f"{k}: {v}" for k, v in r.dropped.most_common()) or "-"
        src.add_row(r.name, r.role, str(r.rows_read), str(r.rows_kept), reasons, _n(r.tokens))
    console.print(src)

    run = Table(title="plan", title_justify="left", show_header=False)
    run.add_column("what")
    run.add_column("value")
    rows = [
        ("recipe", f"{plan.kind} / {plan.method}"),
        ("model", plan.model),
        ("device / attention / dtype", f"{plan.device} / {plan.attention} / {plan.dtype}"),
        ("parameters (trainable)", f"{_n(plan.total_params)} ({_n(plan.trainable_params)})"),
        ("examples / tokens per epoch", f"{plan.examples} / {_n(plan.tokens)}"),
        ("sequences of <= max_length", f"{plan.sequences} x {plan.max_length}"),
        ("retention share", f"{data.retention_share:.1%} of {data.unit}" if data.retention_share else "-"),
        ("sequences per optimizer step", str(plan.sequences_per_step)),
        ("optimizer steps", str(plan.steps)),
        ("sharding", plan.sharding),
        ("memory per device (estimate)", _memory_line(plan)),
        ("device memory", f"{plan.device_memory_gib:.1f} GiB (usable {plan.headroom:.0%})"),
    ]
    for k, v in rows:
        run.add_row(k, v)
    console.print(run)
    for note in plan.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


def _memory_line(plan: TrainPlan) -> str:
    m = plan.memory
    parts = (
        ("weights", m.weights),
        ("grads", m.gradients),
        ("optimizer", m.optimizer),
        ("activations", m.activations),
    )
    detail = ", ".join(f"{k} {v / GIB:.2f}" for k, v in parts)
    return f"{m.total / GIB:.2f} GiB ({detail}, overhead {m.overhead / GIB:.1f})"


def check_fits(plan: TrainPlan) -> None:
    """Refuse a run whose estimate exceeds the device, with the levers that would make it fit."""
    if plan.fits:
        return
    need = plan.memory.total / GIB
    have = plan.device_memory_gib * plan.headroom
    levers = []
    if plan.method == "full":
        levers.append("method: lora")
    if plan.sharding == "none":
        levers.append(
            "shard over more GPUs (accelerate launch --config_file pipelines/accelerate/fsdp2.yaml)"
        )
    elif plan.devices > 0:
        levers.append("more GPUs or nodes")
    levers.append("a smaller train.per_device_batch_size or data.max_length")
    if plan.attention == "eager" and plan.device != "cpu":
        levers.append("model.attn_implementation: flex_attention")
    raise UserError(
        f"the model does not fit: about {need:.1f} GiB per device needed, {have:.1f} GiB usable "
        f"({plan.device_memory_gib:.1f} GiB x {plan.headroom:.0%}); try: "
        + "; ".join(levers)
        + " (or set plan.device_memory_gib if the estimate is wrong for your hardware)"
    )


def write_plan(plan: TrainPlan, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "plan.json"
    path.write_text(json.dumps(plan.to_dict(), indent=2) + "\n")
    return path
