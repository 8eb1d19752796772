"""Command-line entry points of the training module (registered by medswallow.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``merge-lora`` to the root app."""

    @app.command("train")
    def train(
        recipe: Annotated[Path, typer.Argument(help="Training recipe YAML (pipelines/train/*.yaml).")],
        set_: Annotated[
            list[str] | None,
            typer.Option(
                "--set", help="Override a recipe field: --set train.learning_rate=2e-4 (repeatable)."
            ),
        ] = None,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run",
                help="Validate recipe and data, print the plan (tokens, steps, memory); train nothing.",
            ),
        ] = False,
    ) -> None:
        """Domain-adaptive training with TRL: CPT on build-corpus shards or SFT on harmony chat data, LoRA or full.

        Multi-GPU and multi-node: start it with accelerate (see the launch lines at the top of each recipe).
        """
        from medswallow.train.runner import run_recipe

        run_recipe(recipe, list(set_ or []), dry_run=dry_run)

    @app.command("merge-lora")
    def merge_lora(
        adapter: Annotated[
            Path, typer.Argument(help="LoRA adapter folder (OUTPUT_DIR/adapter or a checkpoint).")
        ],
        out: Annotated[Path, typer.Option("-o", "--out", help="Folder for the merged HF model.")],
        base: Annotated[
            str | None,
            typer.Option(help="Base model (hub id or folder); default: the one the adapter was trained on."),
        ] = None,
        dtype: Annotated[str, typer.Option(help="bfloat16 or float32.")] = "bfloat16",
    ) -> None:
        """Merge a LoRA adapter into its base model and save an HF folder that vLLM serves."""
        import json

        from medswallow.errors import UserError
        from medswallow.train.export import merge_adapter
        from medswallow.train.runner import quiet_library_progress

        if dtype not in ("bfloat16", "float32"):
            raise UserError(f"--dtype: {dtype!r} is not bfloat16 or float32")
        config = adapter / "adapter_config.json"
        if not config.is_file():
            raise UserError(f"{adapter} is not a LoRA adapter folder (no adapter_config.json)")
        base = base or json.loads(config.read_text()).get("base_model_name_or_path")
        if not base:
            raise UserError(f"{config} does not name its base model; pass --base")
        quiet_library_progress()
        merge_adapter(base, adapter, out, dtype)
        typer.echo(str(out))
