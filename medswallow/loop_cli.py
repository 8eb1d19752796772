"""``medswallow loop``: review export -> DPO -> eval suite, with the before/after table (registered by medswallow.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``loop`` to the root app."""

    @app.command("loop")
    def loop(
        recipe: Annotated[Path, typer.Argument(help="DPO recipe (pipelines/train/dpo-*.yaml).", metavar="DPO_RECIPE.yaml")],
        suite: Annotated[Path, typer.Option("--suite", help="Eval suite run before and after (pipelines/eval/*.yaml).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: export/, dpo/, before/, after/, loop.json, loop.md.")],
        export: Annotated[
            Path | None, typer.Option("--export", help="An existing review export folder (from `medswallow review export`).")
        ] = None,
        review_db: Annotated[
            str | None, typer.Option("--review-db", help="Export this review database first (SQLite path or PostgreSQL URL).")
        ] = None,
        prompt_set: Annotated[str | None, typer.Option("--prompt-set", help="With --review-db: export one prompt set only.")] = None,
        prompts: Annotated[
            list[Path] | None,
            typer.Option("--prompts", help="Prompt files for the unsafe rate (default: the export's prompts); repeatable."),
        ] = None,
        before_url: Annotated[
            str | None, typer.Option("--before-url", help="A server already serving the base model (else one is started).")
        ] = None,
        before_model: Annotated[
            str | None, typer.Option("--before-model", help="With --before-url: the served model name.")
        ] = None,
        rules: Annotated[str, typer.Option(help="Pre-screen rules that judge the answers, comma-separated.")] = "dose,referral,pii",
        max_model_len: Annotated[int, typer.Option(help="Context of the vLLM servers (capped at the model's).")] = 32768,
        set_: Annotated[
            list[str] | None, typer.Option("--set", help="Override a DPO recipe field: --set dpo.beta=0.05 (repeatable).")
        ] = None,
    ) -> None:
        """Close the loop: clinician reviews -> DPO -> eval suite; prints accuracy and unsafe rate before and after."""
        from medswallow.loop import run_loop

        run_loop(
            recipe,
            suite,
            out,
            export_dir=export,
            review_db=review_db,
            prompt_set=prompt_set,
            prompt_files=list(prompts or []),
            before_url=before_url,
            before_name=before_model,
            overrides=list(set_ or []),
            rules=tuple(r.strip() for r in rules.split(",") if r.strip()),
            max_model_len=max_model_len,
        )
