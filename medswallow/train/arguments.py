"""What every recipe passes to its TRL trainer: the loop arguments, the callbacks, the checkpoint to resume.

Kept apart from the recipes so SFT/CPT today and DPO/GRPO later read the same sections the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medswallow.errors import UserError, did_you_mean
from medswallow.train.recipe import BaseRecipe


def loop_arguments(recipe: BaseRecipe) -> dict[str, Any]:
    """Keyword arguments shared by TRL's configs (SFTConfig, DPOConfig, ...) for the recipe's train section."""
    from medswallow.train.modeling import resolve_dtype, training_device

    t = recipe.train
    device = training_device()
    bf16 = str(resolve_dtype(recipe.model, device)) == "torch.bfloat16"
    kwargs: dict[str, Any] = {
        "output_dir": str(recipe.output_dir),
        "seed": t.seed,
        "num_train_epochs": t.epochs,
        "max_steps": t.max_steps,
        "per_device_train_batch_size": t.per_device_batch_size,
        "per_device_eval_batch_size": t.per_device_batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "learning_rate": t.learning_rate,
        "lr_scheduler_type": t.lr_scheduler,
        "warmup_steps": t.warmup_ratio,  # transformers 5 takes the ratio here (a float < 1)
        "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm,
        "optim": t.optim,
        "logging_steps": t.logging_steps,
        "save_strategy": "steps",
        "save_steps": t.save_steps,
        "save_total_limit": t.save_total_limit,
        "report_to": list(t.report_to),
        "run_name": t.run_name,
        "dataloader_num_workers": t.dataloader_num_workers,
        "dataloader_pin_memory": device.type == "cuda",
        # On CPU, accelerate runs several processes (torchrun, accelerate launch) over gloo only when told so.
        "use_cpu": device.type == "cpu",
        "gradient_checkpointing": recipe.model.gradient_checkpointing,
        "bf16": bf16,
        "disable_tqdm": True,  # RichProgress draws the bar
        "router_aux_loss_coef": t.router_aux_loss_coef,
    }
    if t.lr_scheduler == "cosine_with_min_lr":
        kwargs["lr_scheduler_kwargs"] = {"min_lr_rate": t.min_lr_ratio}
    if recipe.model.gradient_checkpointing:
        # Non-reentrant checkpointing works with PEFT, FSDP2 and frozen inputs.
        kwargs["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    # The performance levers may own checkpointing (then the trainer's flag goes off) and padding-free batches.
    from medswallow.train.perf import trainer_arguments

    extra = trainer_arguments(recipe.performance)
    if extra.get("gradient_checkpointing") is False:
        kwargs.pop("gradient_checkpointing_kwargs", None)
    kwargs.update(extra)
    return kwargs


def with_trl_args(config_cls: type, kwargs: dict[str, Any], extra: dict[str, Any]) -> Any:
    """Build a TRL config from ``kwargs`` plus the recipe's ``train.trl_args``, checking their names first."""
    import dataclasses

    valid = {f.name for f in dataclasses.fields(config_cls)}
    for key in extra:
        if key not in valid:
            raise UserError(
                f"train.trl_args: {config_cls.__name__} has no field {key!r}{did_you_mean(key, valid)}"
            )
    try:
        return config_cls(**{**kwargs, **extra})
    except (TypeError, ValueError) as exc:
        raise UserError(f"train: {config_cls.__name__} rejected the arguments: {exc}") from None


def resume_checkpoint(recipe: BaseRecipe) -> str | None:
    """The checkpoint this run continues from: none, the newest in output_dir (auto), or a given folder."""
    from transformers.trainer_utils import get_last_checkpoint

    value = recipe.train.resume
    if value == "never":
        return None
    if value == "auto":
        out = recipe.output_dir
        return get_last_checkpoint(str(out)) if out.is_dir() else None
    path = recipe.resolve(value)
    if not (path / "trainer_state.json").is_file():
        raise UserError(f"train.resume: {path} is not a checkpoint folder (no trainer_state.json)")
    return str(path)


def default_callbacks(recipe: BaseRecipe) -> list[Any]:
    from medswallow.train.callbacks import RichProgress, StopAfter

    callbacks: list[Any] = [RichProgress()]
    if recipe.train.stop_after_steps is not None or recipe.train.stop_after_minutes is not None:
        callbacks.append(StopAfter(recipe.train.stop_after_steps, recipe.train.stop_after_minutes))
    return callbacks


def attach_callbacks(trainer: Any, recipe: BaseRecipe, extra: list[Any] | tuple[Any, ...] = ()) -> None:
    """Add the recipe's callbacks; Throughput goes first so its numbers reach TensorBoard and W&B."""
    from transformers.trainer_callback import PrinterCallback

    from medswallow.train.callbacks import Throughput

    trainer.remove_callback(PrinterCallback)  # RichProgress prints a short line per log instead
    trainer.callback_handler.callbacks.insert(0, Throughput(recipe.output_dir))
    for cb in [*default_callbacks(recipe), *extra]:
        trainer.add_callback(cb)


def finished(trainer: Any) -> bool:
    """Whether the run reached its last step (False when a StopAfter or an interrupt ended it early)."""
    state = trainer.state
    return bool(state.max_steps) and state.global_step >= state.max_steps


def final_dir(recipe: BaseRecipe) -> Path:
    """Where the trained weights (full model, or the LoRA adapter) are saved at the end."""
    return recipe.output_dir / ("adapter" if recipe.method == "lora" else "final")
