"""The ``medswallow`` command line: each command is a thin call into one module.

Command modules are imported here, but each keeps its heavy imports (torch, vLLM, spaCy) inside the
command functions, so ``medswallow --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from medswallow.console import console
from medswallow.errors import UserError

app = typer.Typer(
    name="medswallow",
    help="Medical-GPT-OSS-Swallow toolkit: build the medical mixture, train, evaluate, review safety.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Each module defines register(app) and adds its commands or sub-apps.
COMMAND_MODULES = (
    "medswallow.corpus.cli",
    "medswallow.pii.cli",
    "medswallow.inference.cli",
    "medswallow.train.cli",
    "medswallow.bench.cli",
    "medswallow.review.cli",
    "medswallow.loop_cli",
)


@app.command("tiny-model")
def tiny_model(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the HF model folder to.")],
    layers: Annotated[int, typer.Option(help="Number of decoder layers (alternating sliding/full attention).")] = 2,
    experts: Annotated[int, typer.Option(help="Experts per MoE layer.")] = 4,
    hidden: Annotated[int, typer.Option(help="Hidden size.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed of the random weights.")] = 0,
    force: Annotated[bool, typer.Option(help="Overwrite an existing directory.")] = False,
) -> None:
    """Build a small random gpt-oss with the real o200k_harmony tokenizer (offline), for tests and demos."""
    from medswallow.models.tiny import TinySpec, build_tiny_model

    spec = TinySpec(num_hidden_layers=layers, num_local_experts=experts, hidden_size=hidden, seed=seed)
    with console.status("building tiny gpt-oss"):
        out = build_tiny_model(out_dir, spec, force=force)
    console.print(f"[green]tiny gpt-oss written to[/green] {out}")


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        from medswallow import __version__

        typer.echo(__version__)
        raise typer.Exit()


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one message and exit 2; Ctrl-C exits 130 without a traceback."""
    try:
        # Without standalone mode click returns the exit code (e.g. 130 for Ctrl-C) instead of exiting.
        rv = app(args=argv, standalone_mode=False)
        if isinstance(rv, int) and rv:
            return rv
    except UserError as exc:
        console.print(f"[bold red]error:[/bold red] {exc}", markup=True, highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]; finished work is kept and a rerun resumes from it")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        console.print("[yellow]aborted[/yellow]")
        return 1
    except SystemExit as exc:  # click raises this for --help
        return int(exc.code or 0) if isinstance(exc.code, int) else 0
    except Exception as exc:
        # Usage errors of the (vendored) click layer: print the usage message, not a traceback.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return int(exc.exit_code)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
