"""``medswallow build-corpus RECIPE.yaml -o OUT/``: build the medical training mixture a recipe describes."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("build-corpus")(build_corpus)


def build_corpus(
    recipe: Annotated[Path, typer.Argument(help="Mixture recipe YAML, e.g. corpora/medical-mixture.yaml.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output directory (created; a rerun resumes an interrupted build).")],
    workers: Annotated[int | None, typer.Option(help="Tasks at once (local worker processes or Ray tasks); default: CPU count.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a recipe field: --set dedup.near=false (repeatable).")] = None,
    executor: Annotated[str | None, typer.Option(help="'local' (default) or 'ray'; overrides executor.kind.")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to join ('auto' for a running one); default: a local cluster.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a previous build in OUT instead of resuming it.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars (the summary is still printed).")] = False,
) -> None:
    """Build a Japanese-English medical training mixture: sources -> filters -> PII -> dedup -> decontamination -> Parquet."""
    from rich.console import Console

    from medswallow.console import console
    from medswallow.corpus.manifest import summary_tables
    from medswallow.corpus.pipeline import build
    from medswallow.corpus.recipe import load_recipe
    from medswallow.errors import UserError

    overrides = list(set_ or [])
    if executor is not None:
        if executor not in ("local", "ray"):
            raise UserError(f"--executor {executor!r}: use 'local' or 'ray'")
        overrides.append(f"executor.kind={executor}")
    if ray_address is not None:
        overrides.append(f"executor.ray_address={ray_address}")
    cfg = load_recipe(recipe, overrides)
    start = time.monotonic()

    def announce(units: list[dict]) -> None:  # type: ignore[type-arg]
        console.print(
            f"building [bold]{cfg.name}[/bold]: {len(cfg.sources)} sources, "
            f"{sum(len(u['files']) for u in units)} files in {len(units)} units "
            f"-> {out} ({cfg.executor.kind} executor)"
        )

    try:
        manifest = build(cfg, out, workers=workers, overwrite=overwrite, show_progress=not quiet, on_plan=announce)
    except KeyboardInterrupt:
        # Said here (typer turns Ctrl-C into a plain exit code): finished tasks are kept, a rerun resumes.
        console.print(f"[yellow]interrupted[/yellow]; finished work is kept in {out}: run the same command again to resume")
        sys.exit(130)
    for table in summary_tables(manifest):
        # Logs and pipes get 80 columns by default, and print(width=) cannot go beyond the console's
        # width: a console as wide as the table needs prints it without cutting a cell.
        wide = Console(file=console.file, width=max(console.width, table_width(console, table)), highlight=False)
        wide.print(table)
    t = manifest["totals"]
    if not t.get("docs_out", 0):
        console.print(
            f"[bold red]error:[/bold red] the build kept no documents ({t.get('read', 0):,} records read: "
            f"{t.get('dropped', 0):,} dropped, {t.get('quarantined', 0):,} quarantined); the reasons are in the table "
            f"above and in {out / 'rejected'}. {out / 'data'} holds one empty shard.",
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(
        f"[green]done[/green] in {time.monotonic() - start:.1f}s: {t.get('docs_out', 0):,} documents, "
        f"{t.get('tokens_out', 0):,} tokens in {len(manifest['shards'])} shards -> {out / 'data'}; "
        f"manifest {out / 'manifest.json'}, dataset card {out / 'README.md'}, reasons in {out / 'rejected'}"
    )


def table_width(console: object, table: object) -> int:
    """Columns a rich table needs to print without cutting a cell."""
    from rich.console import Console
    from rich.measure import Measurement

    assert isinstance(console, Console)
    wide = console.options.update(width=10_000, max_width=10_000)
    return int(Measurement.get(console, wide, table).maximum)  # type: ignore[arg-type]
