"""The ``performance:`` section of a training recipe: which throughput levers are on, each one switchable.

Every lever computes the same loss and gradients as the plain transformers/PEFT path (tests under
tests/train/perf check that on CPU in float32); what changes is time and memory. Importing this module
does not import torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from medswallow.config import StrictModel

CheckpointBlock = Literal["attention", "mlp"]


class PerfConfig(StrictModel):
    """Throughput levers for gpt-oss training. ``auto`` (the default) is resolved once per run by
    ``medswallow.train.plan.resolve_performance``: on CPU every lever stays as loaded; on GPU the levers that
    the benchmarks measure fastest, with the checkpoint policy and micro-batch the memory plan says fit."""

    attention: Literal["auto", "keep", "flex"] = Field(
        default="auto",
        description="flex: flex_attention with the sinks applied through its log-sum-exp and one block mask per "
        "batch (packed documents, sliding windows) — several times faster than eager on GPU. It has no backward "
        "on CPU (torch 2.13), so training with it needs a GPU. keep: the attention the model was loaded with. "
        "auto: flex on GPU for kinds that do not generate (GRPO keeps the loaded attention), keep on CPU.",
    )
    experts: Literal["auto", "keep", "grouped", "loop"] = Field(
        default="auto",
        description="grouped: one grouped GEMM over all experts (torch grouped_mm) with LoRA on experts applied "
        "as low-rank products, never as a merged expert-sized weight; loop: the same math one expert at a time "
        "(any shape, any device). keep: transformers' experts and PEFT's parametrization. auto: grouped on GPU, "
        "keep on CPU.",
    )
    loss: Literal["keep", "chunked", "liger"] = Field(
        default="keep",
        description="chunked: cross-entropy over the 201k vocabulary in token chunks, never building the "
        "[tokens x vocab] logits (gradients computed chunk by chunk in the forward pass); liger: liger-kernel's "
        "fused linear cross-entropy (GPU, when installed). Applies when the model is called with labels; TRL's "
        "SFTTrainer (>= 1.16) already scores through its own fused LM head and bypasses this.",
    )
    loss_chunk_tokens: int = Field(
        default=1024,
        ge=1,
        description="Tokens per cross-entropy chunk: each chunk holds chunk x vocab fp32 logits "
        "(1024 x 201088 x 4 B = 0.8 GB). Larger: fewer, bigger matmuls; smaller: less memory.",
    )
    checkpointing: Literal["auto", "keep", "none", "full", "selective"] = Field(
        default="auto",
        description="Activation checkpointing. full: recompute whole decoder layers; selective: recompute only "
        "checkpoint_blocks (the MoE block costs the most memory once attention is flex); none: keep every "
        "activation. keep: leave it to the trainer's gradient_checkpointing flag (model.gradient_checkpointing). "
        "auto: on GPU the fastest policy whose memory estimate fits the device (none, then selective, then full, "
        "weighed with the micro-batch each allows); keep on CPU.",
    )
    checkpoint_blocks: list[CheckpointBlock] = Field(
        default_factory=lambda: list[CheckpointBlock](["mlp"]),
        min_length=1,
        description="selective: which blocks of each layer are recomputed in the backward pass.",
    )
    checkpoint_every: int | Literal["auto"] = Field(
        default="auto",
        description="Checkpoint every N-th layer only (1: all). Higher: faster, more memory. auto: chosen with "
        "the policy when checkpointing is auto (every layer, or every 2nd, 3rd or 4th when that fits); 1 when "
        "the policy is set.",
    )
    checkpoint_save_matmuls: bool = Field(
        default=False,
        description="Inside a checkpointed region, keep matmul outputs and recompute only the cheap "
        "elementwise ops (op-level selective checkpointing): less recompute, more memory.",
    )
    compile: bool | Literal["auto"] = Field(
        default="auto",
        description="torch.compile each decoder layer in place (per-block compilation: parameter names and "
        "PEFT paths unchanged). The first step pays the compile time; compiled kernels are cached on disk "
        "(TORCHINDUCTOR_CACHE_DIR) and reused by later runs. auto: on for CPT on GPU (fixed-length packed rows), "
        "off otherwise (variable-length chat batches would recompile).",
    )
    compile_backend: str = Field(
        default="inductor", description="torch.compile backend (aot_eager: trace only, for debugging)."
    )
    compile_mode: str | None = Field(
        default=None, description="torch.compile mode, e.g. max-autotune-no-cudagraphs; null: the default."
    )
    micro_batch: int | Literal["auto", "keep"] = Field(
        default="auto",
        description="Sequences per device per forward pass. The recipe's sequences per optimizer step "
        "(train.per_device_batch_size x gradient_accumulation_steps) stay as they are: accumulation is set to "
        "keep them. auto: on GPU the largest divisor that fits next to the checkpoint policy; keep: the "
        "recipe's per_device_batch_size. An integer must divide the sequences per step.",
    )
    padding_free: bool = Field(
        default=False,
        description="Concatenate the examples of a micro-batch into one row (no pad tokens); position_ids "
        "restart per example and the attention masks keep examples apart.",
    )

    @model_validator(mode="before")
    @classmethod
    def _auto_shorthand(cls, data: Any) -> Any:
        # ``performance: auto`` in a recipe: every lever on auto.
        if data == "auto":
            return {}
        return data

    @model_validator(mode="after")
    def _options_need_checkpointing(self) -> PerfConfig:
        if isinstance(self.micro_batch, int) and self.micro_batch < 1:
            raise ValueError("micro_batch must be a positive integer, auto or keep")
        if isinstance(self.checkpoint_every, int) and self.checkpoint_every < 1:
            raise ValueError("checkpoint_every must be a positive integer or auto")
        if self.checkpointing in ("keep", "none") and (
            self.checkpoint_every not in (1, "auto") or self.checkpoint_save_matmuls
        ):
            raise ValueError(
                "checkpoint_every / checkpoint_save_matmuls apply to checkpointing: full or selective; "
                f"checkpointing is {self.checkpointing!r}"
            )
        return self

    @property
    def owns_checkpointing(self) -> bool:
        """Whether these levers decide activation checkpointing (the trainer's own flag must then be off)."""
        return self.checkpointing not in ("keep", "auto")

    @property
    def every(self) -> int:
        """Which layers are checkpointed: every ``every``-th (``auto`` not yet settled: all)."""
        return 1 if self.checkpoint_every == "auto" else self.checkpoint_every

    @property
    def resolved(self) -> bool:
        """True once no lever is left on ``auto`` (``resolve_performance`` has run)."""
        levers = (self.attention, self.experts, self.checkpointing, self.checkpoint_every, self.compile, self.micro_batch)
        return "auto" not in levers
