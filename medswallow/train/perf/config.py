"""The ``performance:`` section of a training recipe: which throughput levers are on, each one switchable.

Every lever computes the same loss and gradients as the plain transformers/PEFT path (tests under
tests/train/perf check that on CPU in float32); what changes is time and memory. Importing this module
does not import torch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from medswallow.config import StrictModel

CheckpointBlock = Literal["attention", "mlp"]


class PerfConfig(StrictModel):
    """Throughput levers for gpt-oss training. Defaults keep the model exactly as loaded."""

    attention: Literal["keep", "flex"] = Field(
        default="keep",
        description="flex: flex_attention with the sinks applied through its log-sum-exp and one block mask per "
        "batch (packed documents, sliding windows) — several times faster than eager on GPU. It has no backward "
        "on CPU (torch 2.13), so training with it needs a GPU. keep: the attention the model was loaded with.",
    )
    experts: Literal["keep", "grouped", "loop"] = Field(
        default="keep",
        description="grouped: one grouped GEMM over all experts (torch grouped_mm) with LoRA on experts applied "
        "as low-rank products, never as a merged expert-sized weight; loop: the same math one expert at a time "
        "(any shape, any device). keep: transformers' experts and PEFT's parametrization.",
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
    checkpointing: Literal["keep", "none", "full", "selective"] = Field(
        default="keep",
        description="Activation checkpointing. full: recompute whole decoder layers; selective: recompute only "
        "checkpoint_blocks (the MoE block costs the most memory once attention is flex); none: keep every "
        "activation. keep: leave it to the trainer's gradient_checkpointing flag.",
    )
    checkpoint_blocks: list[CheckpointBlock] = Field(
        default_factory=lambda: list[CheckpointBlock](["mlp"]),
        min_length=1,
        description="selective: which blocks of each layer are recomputed in the backward pass.",
    )
    checkpoint_every: int = Field(
        default=1, ge=1, description="Checkpoint every N-th layer only (1: all). Higher: faster, more memory."
    )
    checkpoint_save_matmuls: bool = Field(
        default=False,
        description="Inside a checkpointed region, keep matmul outputs and recompute only the cheap "
        "elementwise ops (op-level selective checkpointing): less recompute, more memory.",
    )
    compile: bool = Field(
        default=False,
        description="torch.compile each decoder layer in place (per-block compilation: parameter names and "
        "PEFT paths unchanged). The first steps pay the compile time.",
    )
    compile_backend: str = Field(
        default="inductor", description="torch.compile backend (aot_eager: trace only, for debugging)."
    )
    compile_mode: str | None = Field(
        default=None, description="torch.compile mode, e.g. max-autotune-no-cudagraphs; null: the default."
    )
    padding_free: bool = Field(
        default=False,
        description="Concatenate the examples of a micro-batch into one row (no pad tokens); position_ids "
        "restart per example and the attention masks keep examples apart.",
    )

    @model_validator(mode="after")
    def _options_need_checkpointing(self) -> PerfConfig:
        if self.checkpointing in ("keep", "none") and (
            self.checkpoint_every != 1 or self.checkpoint_save_matmuls
        ):
            raise ValueError(
                "checkpoint_every / checkpoint_save_matmuls apply to checkpointing: full or selective; "
                f"checkpointing is {self.checkpointing!r}"
            )
        return self

    @property
    def owns_checkpointing(self) -> bool:
        """Whether these levers decide activation checkpointing (the trainer's own flag must then be off)."""
        return self.checkpointing != "keep"
