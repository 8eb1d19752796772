"""The plan of a training run (tokens, steps, memory per device) and the check that it fits, before any GPU time.

The memory model is an estimate with its assumptions in the open: weights, gradients and AdamW states per
trainable parameter, activations for the sequence length and batch (checkpointed layer inputs plus one
layer's working set, with the attention score matrix when the kernel materialises it), plus a fixed
allowance for the CUDA context and allocator. The throughput levers change the activations (checkpoint policy,
compiled layers, flex attention), so ``performance: auto`` is settled here too: on a GPU the plan picks the
checkpoint policy and micro-batch with the most predicted tokens/s that fit the device. Calibrated against
measured peaks of the gpt-oss-20b LoRA recipe (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from medswallow.console import console
from medswallow.errors import UserError
from medswallow.train.data import TrainData
from medswallow.train.recipe import BaseRecipe

GIB = 2**30
RUNTIME_OVERHEAD_GIB = 0.25  # allocator slack inside the peak; the CUDA context is left to plan.headroom


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
    micro_batch: int = 1
    accumulation: int = 1
    performance: dict[str, str] = field(default_factory=dict)
    performance_reason: str = ""
    resolved_performance: Any = field(default=None, repr=False)  # the PerfConfig the run applies

    @property
    def fits(self) -> bool:
        return self.memory.total <= self.device_memory_gib * GIB * self.headroom

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, resolved_performance=None))
        d.pop("resolved_performance")
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


# Activation bytes a decoder layer keeps per token when nothing is recomputed, in units of (hidden x dtype
# bytes) for the attention half and (top_k x intermediate x dtype bytes) for the MoE half. Fitted to
# max_memory_allocated of the gpt-oss-20b LoRA runs recorded in benchmarks/RESULTS.md (one H200): compiled
# layers fuse the elementwise chains and keep far fewer intermediates than eager PyTorch.
KEEP_ATTENTION = {False: 12.0, True: 8.0}
KEEP_MOE = {False: 8.1, True: 3.33}
# TRL's fused LM head works on tiles of the 201k-vocabulary logits: a small working set, whatever the batch.
LOSS_WORKSPACE_GIB = 0.0

# Relative speed of the checkpoint policies (recompute cost, for the share of layers checkpointed) and of the
# micro-batch size (kernel efficiency grows with tokens per forward, t / (t + half)): the ranking ``auto`` uses.
# selective (MoE blocks) recomputes ~2/3 of the forward matmul FLOPs of a layer: +22% per step for the 20b.
# The half-speed sizes are fitted to one H200 (benchmarks/RESULTS.md): eager layers, 8 x 2048 tokens per
# micro-batch 1.17x faster than 4 x 2048; compiled layers, 8 x 2048 at 24,212 tokens/s vs 4 x 2048 at 22,794
# (1.062x, half = 1,050 tokens).
POLICY_SPEED = {"none": 1.0, "selective": 0.82, "full": 0.74}
MICRO_HALF_TOKENS = {False: 4096, True: 1050}
# Partial checkpointing auto may pick: every layer, or every 2nd, 3rd or 4th (the others keep everything).
AUTO_CHECKPOINT_EVERY = (1, 2, 3, 4)


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
    checkpointing: bool | str,
    packed_flat: bool,
    shard: int,
    compiled: bool = False,
    blocks: tuple[str, ...] = ("mlp",),
    every: int = 1,
    experts_dtype: str = "bf16",
) -> MemoryEstimate:
    """Per-device bytes for one training step (see the module docstring for what is counted).

    ``checkpointing``: none, full or selective (``blocks`` of every ``every``-th layer); a bool means full/none.
    """
    policy = ("full" if checkpointing else "none") if isinstance(checkpointing, bool) else checkpointing
    hidden = int(getattr(config, "hidden_size", 0))
    layers = int(getattr(config, "num_hidden_layers", 0))
    heads = int(getattr(config, "num_attention_heads", 0))
    inter = int(getattr(config, "intermediate_size", 0))
    top_k = int(getattr(config, "num_experts_per_tok", 1) or 1)
    act = weight_bytes
    # LoRA adapters live in fp32 (PEFT upcasts them); full fine-tuning keeps the weights' dtype.
    trainable_bytes = 4 if method == "lora" else weight_bytes
    weights = total * weight_bytes / shard
    if experts_dtype == "mxfp4":  # experts kept as MXFP4 on one GPU (medswallow.train.mxfp4)
        from medswallow.train.mxfp4 import weight_bytes as mxfp4_weight_bytes

        weights = mxfp4_weight_bytes(config, total, trainable, weight_bytes, experts_dtype) / shard
    gradients = trainable * trainable_bytes / shard
    optimizer = 2 * trainable * trainable_bytes / shard  # AdamW: exp_avg and exp_avg_sq
    tokens = batch * seq
    # Padding-free packing flattens the micro-batch into one row: eager attention then spans all of it.
    attn_rows, attn_len = (1, tokens) if packed_flat else (batch, seq)
    scores = attn_rows * heads * attn_len * attn_len * (4 + 2 * act) if attention == "eager" else 0
    attn_keep = tokens * hidden * act * KEEP_ATTENTION[compiled] + scores
    moe_keep = tokens * top_k * inter * act * KEEP_MOE[compiled]
    layer_input = tokens * hidden * act
    checkpointed = math.ceil(layers / every) if policy != "none" else 0
    plain = layers - checkpointed
    kept: float
    working: float
    if policy == "full":
        # Checkpointed layers keep their input; one of them at a time is recomputed whole.
        kept = checkpointed * layer_input
        working = attn_keep + moe_keep
    elif policy == "selective":
        keep_attn = layer_input if "attention" in blocks else attn_keep
        keep_moe = layer_input if "mlp" in blocks else moe_keep
        kept = checkpointed * (keep_attn + keep_moe)
        working = (attn_keep if "attention" in blocks else 0) + (moe_keep if "mlp" in blocks else 0)
    else:
        kept, working = 0.0, 0.0
    activations = plain * (attn_keep + moe_keep) + kept + working
    activations += tokens * hidden * 4 * 2 + LOSS_WORKSPACE_GIB * GIB
    return MemoryEstimate(weights, gradients, optimizer, activations)


@dataclass
class PerfChoice:
    """The levers a run uses, resolved from ``performance:`` for this device, and why."""

    performance: Any  # a resolved PerfConfig
    micro_batch: int
    accumulation: int
    memory: MemoryEstimate
    reason: str


@dataclass(frozen=True)
class _Option:
    """One (checkpoint policy on every ``every``-th layer, micro-batch) candidate of ``auto``."""

    policy: str
    every: int
    micro: int
    memory: MemoryEstimate

    @property
    def label(self) -> str:
        policy = self.policy if self.every == 1 or self.policy in ("none", "keep") else f"{self.policy}/{self.every}"
        return f"{policy} x {self.micro}"


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def predicted_speed(policy: str, micro_tokens: int, *, share: float = 1.0, compiled: bool = False) -> float:
    """Relative tokens/s of a checkpoint policy on ``share`` of the layers at a micro-batch size (``auto``'s
    ranking)."""
    recompute = (1.0 - POLICY_SPEED[policy]) * share
    return (1.0 - recompute) * micro_tokens / (micro_tokens + MICRO_HALF_TOKENS[compiled])


def resolve_performance(
    recipe: BaseRecipe,
    config: Any,
    counts: tuple[int, int],
    *,
    device_type: str,
    attention: str,
    weight_bytes: int,
    seq: int,
    packed_flat: bool,
    shard: int,
    memory_gib: float,
) -> PerfChoice:
    """Settle every ``auto`` of ``recipe.performance`` for this device; on GPU pick the fastest fit.

    CPU: every lever stays as loaded (``auto`` = ``keep``), the recipe's micro-batch and checkpoint flag.
    GPU: flex attention (not for GRPO, which generates), grouped experts, compiled layers for CPT, and the
    (checkpoint policy, micro-batch) pair with the highest predicted tokens/s whose estimate fits.
    """
    perf = recipe.performance
    t = recipe.train
    per_step = t.per_device_batch_size * t.gradient_accumulation_steps
    gpu = device_type == "cuda"
    update: dict[str, Any] = {}
    if perf.attention == "auto":
        update["attention"] = "flex" if gpu and recipe.kind != "grpo" else "keep"
    if perf.experts == "auto":
        update["experts"] = "grouped" if gpu else "keep"
    if perf.compile == "auto":
        update["compile"] = gpu and recipe.kind == "cpt"
    settled = perf.model_copy(update=update)
    attn = "flex" if settled.attention == "flex" else attention
    compiled = bool(settled.compile)
    every_set = settled.checkpoint_every
    if settled.checkpointing == "auto" and gpu:
        everies = AUTO_CHECKPOINT_EVERY if every_set == "auto" else (every_set,)
        policies = [("none", 1)] + [(p, k) for p in ("selective", "full") for k in everies]
    elif settled.checkpointing == "auto":
        policies = [("keep", 1)]
    else:
        policies = [(settled.checkpointing, 1 if every_set == "auto" else every_set)]
    layers = max(1, int(getattr(config, "num_hidden_layers", 0) or 1))
    if isinstance(settled.micro_batch, int):
        if per_step % settled.micro_batch:
            raise UserError(
                f"performance.micro_batch: {settled.micro_batch} does not divide the {per_step} sequences per "
                "optimizer step (train.per_device_batch_size x gradient_accumulation_steps); pick a divisor"
            )
        micros = [settled.micro_batch]
    elif settled.micro_batch == "auto" and gpu:
        micros = _divisors(per_step)
    else:
        micros = [t.per_device_batch_size]

    def estimate(policy: str, every: int, micro: int) -> MemoryEstimate:
        ckpt: bool | str = recipe.model.gradient_checkpointing if policy == "keep" else policy
        return estimate_memory(
            config, *counts, method=recipe.method, weight_bytes=weight_bytes, batch=micro, seq=seq,
            attention=attn, checkpointing=ckpt, packed_flat=packed_flat, shard=shard, compiled=compiled,
            blocks=tuple(settled.checkpoint_blocks), every=every, experts_dtype=recipe.model.experts_dtype,
        )  # fmt: skip

    usable = memory_gib * recipe.plan.headroom * GIB
    options = [
        _Option(policy, every, micro, estimate(policy, every, micro)) for policy, every in policies for micro in micros
    ]
    fitting = [o for o in options if o.memory.total <= usable]

    def speed(option: _Option) -> float:
        policy = option.policy
        if policy == "keep":
            policy = "full" if recipe.model.gradient_checkpointing else "none"
        share = math.ceil(layers / option.every) / layers
        return predicted_speed(policy, option.micro * seq, share=share, compiled=compiled)

    if fitting:
        best = max(fitting, key=lambda o: (speed(o), -o.memory.total))
    else:  # nothing fits: the smallest, so the refusal names the least that would be needed
        best = min(options, key=lambda o: o.memory.total)
    update = {"checkpointing": best.policy, "micro_batch": best.micro, "checkpoint_every": best.every}
    settled = settled.model_copy(update=update)
    if len(options) == 1:
        reason = "as the recipe sets" if gpu or perf.resolved else "CPU: levers as loaded (auto = keep)"
    else:
        faster = [o for o in options if speed(o) > speed(best)]
        runner_up = min(faster, key=lambda o: o.memory.total) if faster else None
        reason = (
            f"fastest predicted of {len(options)} (checkpointing x micro-batch) that fit "
            f"{usable / GIB:.1f} GiB: {best.memory.total / GIB:.1f} GiB"
        )
        if runner_up is not None:
            reason += f"; {runner_up.label} would be faster but needs {runner_up.memory.total / GIB:.1f} GiB"
    return PerfChoice(settled, best.micro, per_step // best.micro, best.memory, reason)


def make_plan(
    recipe: BaseRecipe, data: TrainData, config: Any, counts: tuple[int, int], *, max_length: int, packed: str
) -> TrainPlan:
    """Steps, tokens, the performance levers (``auto`` settled here, once) and memory of the run."""
    from medswallow.train.modeling import resolve_attention, resolve_dtype, training_device
    from medswallow.train.perf.apply import describe

    device = training_device()
    devices, sharding = detect_devices(recipe)
    dtype = resolve_dtype(recipe.model, device)
    attention = resolve_attention(recipe.model, device)
    weight_bytes = 2 if str(dtype) == "torch.bfloat16" else 4
    memory_gib = device_memory_gib(recipe, device.type)
    choice = resolve_performance(
        recipe,
        config,
        counts,
        device_type=device.type,
        attention=attention,
        weight_bytes=weight_bytes,
        seq=max_length * (2 if recipe.kind == "dpo" else 1),  # a DPO example is two sequences (chosen, rejected)
        packed_flat=packed in ("bfd", "bfd_split"),
        shard=devices if sharding in ("fsdp", "zero3") else 1,
        memory_gib=memory_gib,
    )
    t = recipe.train
    tokens = data.tokens
    sequences = math.ceil(tokens / max_length) if packed != "none" else data.examples
    per_step = choice.micro_batch * choice.accumulation * devices
    batches_per_device = math.ceil(math.ceil(sequences / devices) / choice.micro_batch)
    updates_per_epoch = max(1, batches_per_device // choice.accumulation)
    steps = t.max_steps if t.max_steps > 0 else math.ceil(t.epochs * updates_per_epoch)
    total, trainable = counts
    if choice.performance.attention == "flex":
        attention = "flex (medswallow, sinks)"
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
    if recipe.method == "lora":
        from medswallow.train.mxfp4 import placement_note

        usable = memory_gib * recipe.plan.headroom * GIB
        where = placement_note(config, counts, choice.memory, recipe.model.experts_dtype, weight_bytes, usable)
        notes += [where] if where else []
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
        memory=choice.memory,
        device_memory_gib=memory_gib,
        headroom=recipe.plan.headroom,
        notes=notes,
        micro_batch=choice.micro_batch,
        accumulation=choice.accumulation,
        performance=describe(choice.performance),
        performance_reason=choice.reason,
        resolved_performance=choice.performance,
    )


def apply_choice(recipe: BaseRecipe, plan: TrainPlan) -> None:
    """Hand the plan's settled levers and micro-batch to the recipe, which every later stage reads."""
    recipe.performance = plan.resolved_performance
    recipe.train.per_device_batch_size = plan.micro_batch
    recipe.train.gradient_accumulation_steps = plan.accumulation


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
        ("sequences per optimizer step", f"{plan.sequences_per_step} (micro-batch {plan.micro_batch} x "
         f"{plan.accumulation} accumulation{' x ' + str(plan.devices) + ' devices' if plan.devices > 1 else ''})"),
        ("performance levers", ", ".join(f"{k} {v}" for k, v in plan.performance.items() if k != "micro_batch")),
        ("why these levers", plan.performance_reason),
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
    if plan.device != "cpu" and plan.performance.get("checkpointing") != "full":
        levers.append("performance.checkpointing: full (or auto)")
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
