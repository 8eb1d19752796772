"""The recipe sections every training kind shares: model, LoRA, training loop, plan, export, eval hook.

A recipe kind (``cpt.py``, ``sft.py``, later ``dpo.py``, ``grpo.py``) subclasses :class:`BaseRecipe`, adds its
own ``data`` section and fixes ``kind``. Paths in a recipe, ``--set`` values included, are relative to the
recipe file; absolute paths are taken as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from medswallow import BASE_MODEL_ID as DEFAULT_BASE_MODEL
from medswallow.config import StrictModel
from medswallow.train.perf import PerfConfig

LoraGroup = Literal["attention", "experts", "all-linear"]
Reporter = Literal["tensorboard", "wandb"]


def _groups(*names: LoraGroup) -> list[LoraGroup]:
    return list(names)


def _reporters(*names: Reporter) -> list[Reporter]:
    return list(names)


# Attention implementations transformers accepts for gpt-oss (its attention has sinks). "auto" picks per device.
KNOWN_ATTENTION = ("auto", "eager", "sdpa", "flex_attention", "flash_attention_2", "flash_attention_3")


class ModelSection(StrictModel):
    """Which checkpoint to start from and how to load it."""

    name_or_path: str = Field(
        default=DEFAULT_BASE_MODEL,
        description="Hub id (already in the local HF cache) or a local HF model folder.",
    )
    revision: str | None = Field(
        default=None, description="Hub revision (branch, tag or commit) of a hub id."
    )
    dtype: Literal["auto", "bfloat16", "float32"] = Field(
        default="auto",
        description="Weights dtype. auto: bfloat16 on GPU, float32 on CPU (no fast bf16 kernels there).",
    )
    attn_implementation: str = Field(
        default="auto",
        description="auto: flex_attention on GPU, eager on CPU (the only kernels that handle gpt-oss sinks there). "
        "A hub kernel id (kernels-community/...) is passed through as is.",
    )
    gradient_checkpointing: bool = Field(
        default=True,
        description="Recompute activations in the backward pass: far less memory for ~30% more compute.",
    )
    dequantize_mxfp4: bool = Field(
        default=True,
        description="MXFP4 checkpoints (the released gpt-oss weights) are dequantized to bf16 for training.",
    )
    experts_dtype: Literal["bf16", "mxfp4"] = Field(
        default="bf16",
        description="bf16: experts in the weights dtype (the 120B needs ~4 GPUs with FSDP). mxfp4: experts kept "
        "as MXFP4 blocks on the GPU (4.25 bits a value, as gpt-oss is released), dequantized per layer on the "
        "fly, LoRA only: the 120B trains on one 141 GB GPU. Reads bf16 or MXFP4 checkpoints.",
    )
    random_init: bool = Field(
        default=False,
        description="Build the architecture from config.json with random weights (throughput benchmarks only).",
    )
    trust_remote_code: bool = Field(
        default=False, description="Allow model code from the hub (not needed for gpt-oss)."
    )
    chat_template: str | None = Field(
        default=None,
        description="A .jinja file that replaces the tokenizer's chat template (relative to the recipe).",
    )

    @field_validator("attn_implementation")
    @classmethod
    def _known_attention(cls, value: str) -> str:
        if value in KNOWN_ATTENTION or "/" in value:
            return value
        from medswallow.errors import did_you_mean

        raise ValueError(f"unknown attention implementation {value!r}{did_you_mean(value, KNOWN_ATTENTION)}")


class LoraSection(StrictModel):
    """LoRA adapters: named target groups keep recipes readable; explicit names override them."""

    r: int = Field(default=16, ge=1, description="Rank: higher gives more capacity and more memory.")
    alpha: int = Field(
        default=32, ge=1, description="Scale (alpha / r multiplies the update); 2 x r is the usual choice."
    )
    dropout: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Must be 0 when experts are targeted (PEFT limitation)."
    )
    targets: list[LoraGroup] = Field(
        default_factory=lambda: _groups("attention", "experts"),
        description="attention: q/k/v/o projections; experts: MoE expert weights (gate_up_proj, down_proj); "
        "all-linear: every nn.Linear but lm_head (for gpt-oss the same as attention).",
    )
    expert_layers: list[int] | None = Field(
        default=None,
        description="Put expert LoRA on these layers only (TRL's gpt-oss recipe: [7, 15, 23]); null: all.",
    )
    target_modules: list[str] | None = Field(
        default=None, description="Explicit module names; replaces the named groups."
    )
    target_parameters: list[str] | None = Field(
        default=None,
        description="Explicit parameter names (e.g. mlp.experts.down_proj); replaces the 'experts' group.",
    )

    @model_validator(mode="after")
    def _expert_dropout(self) -> LoraSection:
        experts = "experts" in self.targets or bool(self.target_parameters)
        if experts and self.dropout != 0.0:
            raise ValueError(
                "LoRA on expert parameters needs dropout 0 (PEFT cannot apply dropout to parameter targets); "
                "set lora.dropout: 0 or drop 'experts' from lora.targets"
            )
        return self


class TrainSection(StrictModel):
    """The training loop (TRL SFTTrainer / transformers Trainer arguments, with project defaults)."""

    output_dir: str = Field(..., description="Checkpoints, logs, adapter and exported model go here.")
    seed: int = Field(default=42, description="Seed of data order, LoRA init and dropout.")
    epochs: float = Field(
        default=1.0, gt=0, description="Passes over the training mix (ignored when max_steps > 0)."
    )
    max_steps: int = Field(default=-1, description="Optimizer steps; > 0 overrides epochs.")
    per_device_batch_size: int = Field(default=1, ge=1, description="Sequences per device per micro-batch.")
    gradient_accumulation_steps: int = Field(default=8, ge=1, description="Micro-batches per optimizer step.")
    learning_rate: float = Field(
        default=1e-5, gt=0, description="Peak learning rate (LoRA usually 1e-4..2e-4, full 1e-5)."
    )
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup", "cosine_with_min_lr"] = (
        "cosine"
    )
    min_lr_ratio: float = Field(
        default=0.1, ge=0, le=1, description="Floor of cosine_with_min_lr, as a ratio of the peak."
    )
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1, description="Fraction of steps spent warming up.")
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    optim: str = Field(
        default="adamw_torch", description="transformers optimizer name (adamw_torch_fused on GPU is faster)."
    )
    logging_steps: int = Field(default=10, ge=1)
    save_steps: int = Field(
        default=500, ge=1, description="Checkpoint every N optimizer steps (and at the end)."
    )
    save_total_limit: int | None = Field(
        default=3, description="Keep the newest N checkpoints; null keeps all."
    )
    resume: str = Field(
        default="auto",
        description="auto: continue from the newest checkpoint in output_dir; never; or a checkpoint folder.",
    )
    stop_after_steps: int | None = Field(
        default=None,
        description="Checkpoint and stop after this many steps of this run (split a run over job slots).",
    )
    stop_after_minutes: float | None = Field(
        default=None,
        description="Checkpoint and stop after this much wall time (stay inside a Slurm time limit).",
    )
    report_to: list[Reporter] = Field(
        default_factory=lambda: _reporters("tensorboard"),
        description="TensorBoard logs by default; W&B when installed.",
    )
    run_name: str | None = None
    dataloader_num_workers: int = Field(default=0, ge=0)
    router_aux_loss_coef: float | None = Field(
        default=None,
        description="MoE load-balancing loss weight; null: the model config's (0.001 for gpt-oss).",
    )
    trl_args: dict[str, Any] = Field(
        default_factory=dict, description="Extra TRL SFTConfig arguments, checked against SFTConfig's fields."
    )

    @field_validator("resume")
    @classmethod
    def _resume(cls, value: str) -> str:
        if value in ("auto", "never") or value.strip():
            return value
        raise ValueError("resume must be auto, never or a checkpoint folder")


class PlanSection(StrictModel):
    """What the plan and the fit check assume; auto reads the launcher's environment and the device."""

    devices: int | Literal["auto"] = Field(
        default="auto", description="Data-parallel processes (WORLD_SIZE under a launcher)."
    )
    sharding: Literal["auto", "none", "fsdp", "zero3"] = Field(
        default="auto",
        description="auto: read from accelerate's environment (FSDP or DeepSpeed ZeRO-3 shard weights).",
    )
    device_memory_gib: float | Literal["auto"] = Field(
        default="auto", description="Memory of one device; auto: the GPU's, or the machine's RAM on CPU."
    )
    headroom: float = Field(
        default=0.92, gt=0, le=1, description="Fraction of device memory the estimate may use."
    )


class ExportSection(StrictModel):
    """What is written after training: the adapter, and an HF folder that vLLM serves."""

    merge: bool = Field(
        default=True, description="LoRA: merge the adapter into the base weights and save an HF folder."
    )
    dir: str | None = Field(
        default=None, description="Where the servable HF folder goes; default OUTPUT_DIR/merged or /final."
    )
    dtype: Literal["bfloat16", "float32"] = Field(
        default="bfloat16", description="Dtype of the merged weights."
    )


class EvalHookSection(StrictModel):
    """Run an eval suite (``medswallow eval``) on the exported model once training ends."""

    suite: str = Field(..., description="Eval suite YAML (pipelines/eval/...), relative to the recipe.")
    out: str | None = Field(default=None, description="Eval output folder; default OUTPUT_DIR/eval.")
    serve: bool = Field(
        default=True,
        description="For suites with a server backend: start vLLM on the exported model for the run, stop it after.",
    )
    tensor_parallel_size: int = Field(default=1, ge=1, description="GPUs the vLLM server spreads the model over.")
    server_args: list[str] = Field(
        default_factory=list, description="Extra vLLM server arguments (e.g. --gpu-memory-utilization 0.9)."
    )
    args: list[str] = Field(
        default_factory=list, description="Extra arguments for `medswallow eval` (e.g. --limit 50, --set repeats=3)."
    )


class DataSource(StrictModel):
    """One dataset: a .parquet/.jsonl file, a glob, or a folder (a build-corpus output: its data/*.parquet)."""

    path: str = Field(..., description="File, glob or folder, relative to the recipe.")
    max_rows: int | None = Field(
        default=None, ge=1, description="Read at most this many rows (quick experiments)."
    )
    name: str | None = Field(default=None, description="Label in tables; default: the file or folder name.")


class RetentionSection(StrictModel):
    """General-domain data mixed in to limit forgetting of what the base model knows."""

    sources: list[DataSource] = Field(..., min_length=1)
    ratio: float = Field(
        default=0.1,
        ge=0.0,
        lt=1.0,
        description="Share of the training mix drawn from these sources (tokens for CPT, "
        "examples for SFT). Higher: less forgetting, slower domain gain.",
    )


class BaseRecipe(StrictModel):
    """Sections every training kind has. Subclasses add ``data`` and narrow ``kind``."""

    kind: str
    method: Literal["lora", "full"] = Field(
        default="lora", description="lora: adapters only; full: every weight trains."
    )
    model: ModelSection = Field(default_factory=lambda: ModelSection())
    lora: LoraSection = Field(default_factory=lambda: LoraSection())
    train: TrainSection
    plan: PlanSection = Field(default_factory=lambda: PlanSection())
    export: ExportSection = Field(default_factory=lambda: ExportSection())
    eval_suite: EvalHookSection | None = Field(
        default=None, description="Optional eval suite to run on the result."
    )
    performance: PerfConfig = Field(
        default_factory=PerfConfig,
        description="Throughput levers (medswallow.train.perf): flex attention, grouped experts, chunked loss, "
        "selective checkpointing, compile. The defaults change nothing.",
    )

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    def resolve(self, path: str | Path) -> Path:
        """A recipe path made absolute against the recipe's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self._base_dir / p).resolve()

    def settle_paths(self) -> BaseRecipe:
        """Make every path of the recipe absolute, once, at load: later stages read them as they are.

        Data sources, output and export folders, the chat template, the eval suite and a resume folder; a
        model name that is a local folder (a hub id stays a hub id).
        """

        def walk(node: Any) -> None:
            if isinstance(node, DataSource):
                node.path = str(self.resolve(node.path))
                return
            if isinstance(node, StrictModel):
                for name in type(node).model_fields:
                    walk(getattr(node, name))
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self)
        self.train.output_dir = str(self.resolve(self.train.output_dir))
        if self.train.resume not in ("auto", "never"):
            self.train.resume = str(self.resolve(self.train.resume))
        if self.export.dir:
            self.export.dir = str(self.resolve(self.export.dir))
        if self.model.chat_template:
            self.model.chat_template = str(self.resolve(self.model.chat_template))
        if self.eval_suite is not None:
            self.eval_suite.suite = str(self.resolve(self.eval_suite.suite))
            if self.eval_suite.out:
                self.eval_suite.out = str(self.resolve(self.eval_suite.out))
        name = self.model.name_or_path
        if self.resolve(name).exists() or name.startswith((".", "/", "~")):
            self.model.name_or_path = str(self.resolve(name))
        return self

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.train.output_dir)

    @property
    def export_dir(self) -> Path:
        if self.export.dir:
            return self.resolve(self.export.dir)
        return self.output_dir / ("merged" if self.method == "lora" else "final")
