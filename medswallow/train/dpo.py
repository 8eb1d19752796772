"""DPO from clinician reviews: the corrected answer is preferred over the unsafe one (TRL DPOTrainer).

The pairs come from ``medswallow review export`` (:mod:`medswallow.train.prefs` reads, filters and renders
them in harmony format; its docstring says why both sides are final channel only). The reference model
is chosen to fit memory: with LoRA it is the base model with the adapter disabled (no second copy); with
full fine-tuning the reference log-probs are computed once before training (``precompute``), so only one
model is ever held. ``reference: copy`` keeps a frozen second copy, which only a synced reference needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from medswallow.config import StrictModel
from medswallow.errors import UserError
from medswallow.train.data import SourceReport, TrainData, split_eval, write_rejected
from medswallow.train.prefs import PairReport, PrefFilters, load_pairs, read_reasoning, render_pair
from medswallow.train.recipe import BaseRecipe


class DPOData(StrictModel):
    """The review export and which of its pairs to train on."""

    export: str = Field(
        ..., description="Folder written by `medswallow review export` (or its dpo.jsonl/.parquet)."
    )
    taxonomy: str | None = Field(
        default=None,
        description="Taxonomy YAML the filters are checked against; default: the project's safety/taxonomy.yaml.",
    )
    filters: PrefFilters = Field(default_factory=PrefFilters)
    reasoning: Literal["drop", "shared"] = Field(
        default="drop",
        description="drop: both sides final channel only (the correction has no reasoning); shared: the unsafe "
        "answer's own reasoning goes into the prompt of both sides (closer to inference, longer sequences).",
    )
    max_length: int = Field(
        default=2048,
        ge=16,
        description="Longest prompt + answer in tokens; longer pairs are dropped (a cut answer "
        "would lose its <|return|> and teach the model to stop mid-sentence).",
    )
    reasoning_effort: Literal["low", "medium", "high"] | None = Field(
        default=None,
        description="Harmony system prompt's reasoning level; match what the model is served with.",
    )
    model_identity: str | None = Field(
        default=None, description="Harmony system prompt's first line (model identity)."
    )
    eval_fraction: float = Field(
        default=0.0, ge=0.0, lt=0.5, description="Held-out share of pairs for eval loss and reward margins."
    )
    min_pairs: int = Field(
        default=1, ge=1, description="Refuse to train on fewer pairs than this (a filter typo leaves few)."
    )


class DPOSection(StrictModel):
    """The preference loss and the reference model."""

    beta: float = Field(
        default=0.1, gt=0, description="Strength of the pull towards the reference: lower moves further."
    )
    loss_type: list[str] = Field(
        default_factory=lambda: ["sigmoid"],
        description="TRL loss types (sigmoid = the DPO paper; ipo, robust, ...).",
    )
    reference: Literal["auto", "adapter_disabled", "precompute", "copy"] = Field(
        default="auto",
        description="auto: adapter_disabled with LoRA, precompute with full. adapter_disabled: the base under "
        "the LoRA adapter, no extra memory; precompute: reference log-probs computed once before training; "
        "copy: a second frozen model (twice the weights' memory).",
    )

    @model_validator(mode="after")
    def _losses(self) -> DPOSection:
        if not self.loss_type:
            raise ValueError("dpo.loss_type needs at least one loss (sigmoid is the DPO paper's)")
        return self


class Recipe(BaseRecipe):
    kind: Literal["dpo"] = "dpo"
    data: DPOData
    dpo: DPOSection = Field(default_factory=DPOSection)

    @model_validator(mode="after")
    def _reference_fits_method(self) -> Recipe:
        if self.dpo.reference == "adapter_disabled" and self.method != "lora":
            raise ValueError(
                "dpo.reference: adapter_disabled needs method: lora; use precompute (or copy) for full"
            )
        return self

    @property
    def reference(self) -> str:
        if self.dpo.reference != "auto":
            return self.dpo.reference
        return "adapter_disabled" if self.method == "lora" else "precompute"


def template_kwargs(data: DPOData) -> dict[str, str]:
    return {
        k: v
        for k, v in {"reasoning_effort": data.reasoning_effort, "model_identity": data.model_identity}.items()
        if v
    }


def load_data(recipe: Recipe, tokenizer: Any) -> TrainData:
    """Read and filter the review export, render harmony pairs, count tokens, drop what is too long."""
    from datasets import Dataset

    from medswallow.review.taxonomy import load_taxonomy

    d = recipe.data
    export = recipe.resolve(d.export)
    taxonomy = load_taxonomy(recipe.resolve(d.taxonomy) if d.taxonomy else None)
    pairs, report = load_pairs(export, d.filters, taxonomy)
    reasoning = read_reasoning(export) if d.reasoning == "shared" else {}
    rows = []
    kwargs = template_kwargs(d)
    for pair in pairs:
        row = render_pair(tokenizer, pair, d.reasoning, reasoning.get(pair.id, ""), kwargs)
        n_prompt = len(tokenizer(text=row["prompt"])["input_ids"])
        longest = n_prompt + max(len(tokenizer(text=row[k])["input_ids"]) for k in ("chosen", "rejected"))
        if longest > d.max_length:
            report.drop(pair.id, "export", "longer than max_length")
            continue
        rows.append({**row, "n_tokens": longest})
    report.kept = len(rows)
    write_rejected(report.rejected, recipe.output_dir)
    if len(rows) < d.min_pairs:
        why = ", ".join(f"{k}: {v}" for k, v in report.dropped.most_common()) or "the export has none"
        raise UserError(
            f"{len(rows)} preference pairs left (data.min_pairs is {d.min_pairs}) from {export} "
            f"({report.rows_read} rows read; dropped: {why}); loosen data.filters or review more answers"
        )
    train, eval_ds = split_eval(Dataset.from_list(rows), d.eval_fraction, recipe.train.seed)
    return TrainData(
        train.shuffle(seed=recipe.train.seed).flatten_indices(),
        eval_ds,
        [source_report(export, report, rows)],
        "examples",
    )


def source_report(export: Path, report: PairReport, rows: list[dict[str, Any]]) -> SourceReport:
    return SourceReport(
        name=export.name,
        role="train",
        rows_read=report.rows_read,
        rows_kept=len(rows),
        tokens=sum(r["n_tokens"] for r in rows),
        dropped=report.dropped,
    )


def train(
    recipe: Recipe, data: TrainData, tokenizer: Any, callbacks: list[Any] | tuple[Any, ...] = ()
) -> Any:
    """Preference-tune with TRL's DPOTrainer; save the weights (adapter or full model) when done."""
    from trl import DPOConfig, DPOTrainer

    from medswallow.train.arguments import (
        attach_callbacks,
        final_dir,
        finished,
        loop_arguments,
        resume_checkpoint,
        with_trl_args,
    )
    from medswallow.train.modeling import load_training_model
    from medswallow.train.peft_targets import lora_config

    reference = recipe.reference
    args = with_trl_args(
        DPOConfig,
        {
            **loop_arguments(recipe),
            "beta": recipe.dpo.beta,
            "loss_type": list(recipe.dpo.loss_type),
            "max_length": recipe.data.max_length,
            "precompute_ref_log_probs": reference == "precompute",
            "eval_strategy": "steps" if data.eval is not None else "no",
            "eval_steps": recipe.train.save_steps,
        },
        recipe.train.trl_args,
    )
    model = load_training_model(recipe)
    ref_model = None
    if reference == "copy":
        ref_model = load_training_model(recipe)
        ref_model.requires_grad_(False)
    trainer = DPOTrainer(
        model=model,
        ref_model=ref_model,
        args=args,
        train_dataset=data.train.select_columns(["prompt", "chosen", "rejected"]),
        eval_dataset=data.eval.select_columns(["prompt", "chosen", "rejected"])
        if data.eval is not None
        else None,
        processing_class=tokenizer,
        peft_config=lora_config(recipe.lora, model.config) if recipe.method == "lora" else None,
    )
    attach_callbacks(trainer, recipe, callbacks)
    trainer.train(resume_from_checkpoint=resume_checkpoint(recipe))
    if finished(trainer):
        trainer.save_model(str(final_dir(recipe)))
    return trainer
