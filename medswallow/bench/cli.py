"""``medswallow eval SUITE.yaml``, ``medswallow eval validate TASK DATA``, ``medswallow eval compare A B``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from medswallow.console import console


class _RunByDefault(TyperGroup):
    """``medswallow eval SUITE.yaml ...`` means ``medswallow eval run SUITE.yaml ...``."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


eval_app = typer.Typer(
    cls=_RunByDefault,
    help="Japanese medical benchmark runs: [bold]medswallow eval SUITE.yaml --model NAME --base-url URL[/bold].",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@eval_app.command("run")
def run(
    suite_file: Annotated[
        Path, typer.Argument(help="Eval suite YAML (see pipelines/eval/).", metavar="SUITE.yaml")
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Served model name (overrides the suite).")
    ] = None,
    base_url: Annotated[
        list[str] | None,
        typer.Option("--base-url", help="OpenAI-compatible server URL; repeat for replicas."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (results.json, samples/, report.md).")
    ] = Path("eval-out"),
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a suite field: --set repeats=3 --set tasks.0.limit=50"),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Only the first N items of every task (smoke runs).")
    ] = None,
) -> None:
    """Run an eval suite against a model; a rerun resumes from the response cache."""
    from medswallow.bench.report import table_rows
    from medswallow.bench.runner import run_suite
    from medswallow.bench.suite import Suite
    from medswallow.config import load_config

    suite = load_config(Suite, suite_file, overrides or [])
    results = run_suite(suite, out, model=model, base_urls=base_url or None, limit=limit)
    from rich.table import Table

    table = Table(title=f"{results['suite']}: {results['model']}")
    for col in ("task", "scoring", "n", "accuracy %", "95% CI", "published %", "truncated %"):
        table.add_column(col, justify="left" if col in ("task", "scoring") else "right")
    for r in table_rows(results):
        ci = r["ci95"]
        table.add_row(
            r["name"],
            r["scoring"],
            str(r["n"]),
            f"{100 * r['accuracy']:.1f}" if r["accuracy"] is not None else "–",
            f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}" if ci and ci[0] is not None else "–",
            f"{100 * r['published']:.1f}" if r["published"] is not None else "–",
            f"{100 * r['truncation']:.1f}" if r["truncation"] is not None else "–",
        )
    console.print(table)
    stats = results.get("requests") or {}
    if stats:
        console.print(
            f"requests: {stats.get('answered', 0)} answered by the server, {stats.get('cached', 0)} from cache, {stats.get('failed', 0)} failed"
        )
    console.print(
        f"[green]report:[/green] {out / 'report.md'}  [green]results:[/green] {out / 'results.json'}"
    )
    if stats.get("failed"):
        # The report is written but incomplete: say so in the exit status (a rerun re-asks only those).
        raise typer.Exit(1)


@eval_app.command("validate")
def validate(
    task: Annotated[
        str,
        typer.Argument(
            help="Benchmark: igakuqa, jjsimqa, jmmlu_medical, mmlu_medical_jp, medmcqa_jp, medqa_jp, jusmleqa_jp, yakugakuqa."
        ),
    ],
    data: Annotated[
        str,
        typer.Argument(
            help="Local file/folder in the benchmark's format, or an HF dataset id.", metavar="PATH_OR_HF_ID"
        ),
    ],
) -> None:
    """Load a benchmark and print ONE JSON object with its counts (items, scored, scored_official, warnings,
    answers per item, voided, excluded, figure and text-only subsets, special items, categories)."""
    from medswallow.bench.validate import benchmark_counts

    typer.echo(json.dumps(benchmark_counts(task, data), ensure_ascii=False))


@eval_app.command("compare")
def compare_cmd(
    a: Annotated[Path, typer.Argument(help="First run's output folder (or its results.json).")],
    b: Annotated[Path, typer.Argument(help="Second run's output folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Compare two runs task by task: B − A with a paired bootstrap 95% CI over shared items."""
    from medswallow.bench.report import compare, compare_table

    cmp = compare(a, b, seed=seed)
    if as_json:
        typer.echo(json.dumps(cmp, ensure_ascii=False, indent=2))
    else:
        console.print(compare_table(cmp))


@eval_app.command("tasks")
def list_tasks() -> None:
    """List the benchmarks, their published scores and where their data lives."""
    from rich.table import Table

    from medswallow.bench.registry import TASKS, get_task

    table = Table(title="benchmarks")
    for col in (
        "name",
        "title",
        "published %",
        "prompt",
        "official evaluator",
        "data (not shipped)",
        "license",
    ):
        table.add_column(col)
    for name in TASKS:
        t = get_task(name)
        table.add_row(
            name,
            t.title,
            f"{100 * t.published:.2f}" if t.published else "–",
            t.prompt,
            t.official_source or "– (robust only)",
            t.hf_id,
            t.license,
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(eval_app, name="eval")
