"""``medswallow train RECIPE``: validate, plan, check the fit, train, export, evaluate — in that order.

Everything that can be wrong with a recipe (fields, data columns, chat template, memory, eval hook) is
checked before the weights load, so ``--dry-run`` on a login node catches what a GPU job would have hit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from medswallow.console import console
from medswallow.errors import UserError, require
from medswallow.train.plan import TrainPlan
from medswallow.train.recipe import BaseRecipe


@dataclass
class RunResult:
    plan: TrainPlan
    trainer: Any = None  # the TRL trainer (None for a dry run)
    finished: bool = False
    model_dir: Path | None = None  # the servable HF folder, when one was exported


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def check_environment(recipe: BaseRecipe) -> None:
    require("trl", "train")
    require("peft", "train")
    if "wandb" in recipe.train.report_to:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise UserError(
                "train.report_to: wandb is not installed (pip install wandb), or drop it"
            ) from None


def quiet_library_progress() -> None:
    """Silence the libraries' own tqdm bars (weights loading, shard writing): rich bars show the long work."""
    from datasets.utils.logging import disable_progress_bar
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    disable_progress_bar()
    disable_progress_bars()
    hf_logging.disable_progress_bar()


def plan_run(module: ModuleType, recipe: BaseRecipe) -> tuple[TrainPlan, Any, Any]:
    """Everything before the weights: config, tokenizer, data (checked and tokenized), plan, fit check."""
    from medswallow.train.export import check_eval_hook
    from medswallow.train.modeling import count_parameters, load_model_config, load_tokenizer
    from medswallow.train.plan import apply_choice, check_fits, make_plan, print_plan

    check_environment(recipe)
    quiet_library_progress()
    check_eval_hook(recipe)
    config = load_model_config(recipe)
    tokenizer = load_tokenizer(recipe)
    with main_process_first():
        data = module.load_data(recipe, tokenizer)
    plan = make_plan(
        recipe,
        data,
        config,
        count_parameters(recipe, config),
        max_length=recipe.data.max_length,  # type: ignore[attr-defined]
        packed=getattr(recipe.data, "packing", "none"),  # type: ignore[attr-defined]
    )
    if is_main_process():
        print_plan(plan, data)
    check_fits(plan)
    apply_choice(recipe, plan)  # from here on the recipe carries the settled levers and micro-batch
    return plan, tokenizer, data


def run(
    module: ModuleType, recipe: BaseRecipe, *, dry_run: bool = False, callbacks: tuple[Any, ...] = ()
) -> RunResult:
    """Plan, then (unless a dry run) train, export a servable folder and run the eval hook."""
    import torch

    from medswallow.train.arguments import finished
    from medswallow.train.export import export_model, run_eval_hook
    from medswallow.train.plan import write_plan

    plan, tokenizer, data = plan_run(module, recipe)
    if dry_run:
        console.print("[green]dry run: recipe, data and plan are valid[/green]; nothing was trained")
        return RunResult(plan)
    if is_main_process():
        write_plan(plan, recipe.output_dir)
    try:
        trainer = module.train(recipe, data, tokenizer, callbacks)
    except torch.OutOfMemoryError:
        raise UserError(
            f"out of device memory (the plan estimated {plan.memory.total / 2**30:.1f} GiB per device); lower "
            "train.per_device_batch_size or data.max_length, use method: lora, or shard over more GPUs"
        ) from None
    result = RunResult(plan, trainer, finished(trainer))
    if not result.finished:
        if is_main_process():
            console.print(
                f"[yellow]stopped at step {trainer.state.global_step} of {trainer.state.max_steps}[/yellow]; "
                "run the same command again to continue from the last checkpoint (train.resume: auto)"
            )
        return result
    if not trainer.is_world_process_zero():
        return result
    result.model_dir = export_model(recipe)
    print_summary(recipe, trainer, result.model_dir)
    if result.model_dir is not None:
        run_eval_hook(recipe, result.model_dir)
    return result


def print_summary(recipe: BaseRecipe, trainer: Any, model_dir: Path | None) -> None:
    """What the run did and where its outputs are, as one table."""
    import json

    from rich.table import Table

    from medswallow.train.arguments import final_dir

    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    evals = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
    speed_file = recipe.output_dir / "throughput.json"
    speed = json.loads(speed_file.read_text()) if speed_file.is_file() else {}
    table = Table(title="training finished", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value")
    rows = [
        ("optimizer steps", str(trainer.state.global_step)),
        ("train loss (first -> last log)", f"{losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "-"),
        ("eval loss (last)", f"{evals[-1]:.4f}" if evals else "-"),
        (
            "tokens/s (all devices)",
            f"{speed['tokens_per_second']:,.0f}" if speed.get("tokens_per_second") else "-",
        ),
        (
            "peak memory (GiB, this process)",
            f"{speed['peak_memory_gib']:.2f}" if speed.get("peak_memory_gib") else "-",
        ),
        ("trained weights", str(final_dir(recipe))),
        ("servable HF folder", str(model_dir) if model_dir else "-"),
        (
            "TensorBoard",
            f"tensorboard --logdir {recipe.output_dir / 'runs'}"
            if "tensorboard" in recipe.train.report_to
            else "-",
        ),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


def run_recipe(
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    dry_run: bool = False,
    callbacks: tuple[Any, ...] = (),
) -> RunResult:
    """Load a recipe file (with ``--set`` overrides) and run it."""
    from medswallow.train.registry import load_recipe

    module, recipe = load_recipe(path, overrides)
    return run(module, recipe, dry_run=dry_run, callbacks=callbacks)


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Under a launcher, rank 0 reads and tokenizes first (it fills the datasets cache the others reuse)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch
        from accelerate import PartialState

        with PartialState(cpu=not torch.cuda.is_available()).main_process_first():
            yield
    else:
        yield
