"""``medswallow serve``: a vLLM OpenAI-compatible server with the model card's recommendations."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from medswallow.console import console
from medswallow.errors import UserError


def _stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and a supervisor's SIGTERM both stop the server and its process group.

    SIGINT is set explicitly: a shell that starts us in the background hands it down ignored.
    """

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command(
        "serve",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def serve(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="Model folder or HF id (already cached: no hub access).")],
        tp: Annotated[int, typer.Option("--tp", help="Tensor-parallel size (GPUs per replica).")] = 1,
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 exposes the server to the network.")] = "127.0.0.1",
        max_model_len: Annotated[
            int | None, typer.Option(help="Context length (default: the model card's 32768, capped at the model's max_position_embeddings).")
        ] = None,
        reasoning_effort: Annotated[
            str, typer.Option(help="Default harmony reasoning effort for chat requests that set none: low, medium or high.")
        ] = "medium",
        served_model_name: Annotated[
            str | None, typer.Option(help="Name clients use in requests (default: MODEL as given).")
        ] = None,
        log_file: Annotated[
            Path | None, typer.Option(help="vLLM's log (default: ~/.cache/medswallow/serve/vllm-PORT.log); '-' shows it on this terminal.")
        ] = None,
        ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for the server to answer.")] = 1800,
    ) -> None:
        """Serve MODEL with vLLM: temperature 0.6, top_p 0.95, top_k 20, min_p 0, 32k context, medium reasoning.

        Arguments after `--` go to vLLM as they are, e.g. `medswallow serve MODEL -- --enable-prefix-caching`.
        Ctrl-C stops the server and everything it started.
        """
        from medswallow.inference.server import MODEL_CARD_SAMPLING, VLLMServer

        effort = _check_effort(reasoning_effort)
        if tp < 1:
            raise UserError(f"--tp must be >= 1, got {tp}")
        to_terminal = str(log_file) == "-"
        log_path = None if to_terminal else (log_file or _default_log(port))
        server = VLLMServer.for_model_card(
            model,
            reasoning_effort=effort,
            served_model_name=served_model_name,
            host=host,
            port=port,
            tensor_parallel_size=tp,
            max_model_len=max_model_len,
            extra_args=list(ctx.args),
            log_path=log_path,
            inherit_output=to_terminal,
        )
        server.check()  # model folder, context length, port: refused before anything starts
        for note in server.notes:
            console.print(f"note: {note}", highlight=False, soft_wrap=True)
        _stop_on_signals()
        try:
            where = f"; log: {log_path}" if log_path else ""
            with console.status(f"starting vLLM for {model} on {server.base_url}{where}"):
                server.start(timeout=ready_timeout)
            defaults = ", ".join(f"{k}={v}" for k, v in MODEL_CARD_SAMPLING.items())
            console.print(
                f"[green]ready[/green]: {server.base_url} serves '{server.name}' ({defaults}; "
                f"max_model_len={server.resolved_max_model_len}; reasoning_effort={effort})", highlight=False, soft_wrap=True
            )
            console.print(
                f"  client: InferenceClient('{server.base_url}', model='{server.name}'); stop with Ctrl-C"
                + (f"; log: {log_path}" if log_path else ""), highlight=False, soft_wrap=True
            )
            while server.process is not None and server.process.poll() is None:
                time.sleep(1.0)
            raise UserError(server.exit_reason())
        except KeyboardInterrupt:
            console.print("stopping the vLLM server")
            server.stop()
            console.print("[green]server stopped[/green]")
        finally:
            server.stop()


def _default_log(port: int) -> Path:
    import os

    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "medswallow" / "serve" / f"vllm-{port}.log"


def _check_effort(value: str) -> Literal["low", "medium", "high"]:
    from medswallow.errors import did_you_mean

    if value not in ("low", "medium", "high"):
        raise UserError(f"--reasoning-effort {value!r} is not allowed{did_you_mean(value, ['low', 'medium', 'high'])}")
    return value  # type: ignore[return-value]
