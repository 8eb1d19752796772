"""After training: a servable HF folder (LoRA merged into the base weights) and the optional eval suite.

The merge reloads the base model on the CPU rather than merging the training copy, so it works the same after
a single-GPU run, an FSDP/ZeRO-3 run (whose training copy is sharded) or a run that was resumed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from medswallow.console import console
from medswallow.errors import UserError
from medswallow.train.recipe import BaseRecipe


def merge_adapter(
    base: str, adapter_dir: Path, out_dir: Path, dtype: str = "bfloat16", revision: str | None = None
) -> Path:
    """Load ``base`` (MXFP4 dequantized), apply the adapter, ``merge_and_unload``, save an HF folder for vLLM."""
    import torch
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from medswallow.train.modeling import (
        finish_mxfp4_load,
        is_mxfp4,
        save_tokenizer_and_generation_config,
    )

    if not (adapter_dir / "adapter_config.json").is_file():
        raise UserError(f"{adapter_dir} is not a LoRA adapter folder (no adapter_config.json)")
    kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype), "revision": revision}
    if is_mxfp4(AutoConfig.from_pretrained(base, revision=revision)):
        from transformers import Mxfp4Config  # type: ignore[attr-defined]

        kwargs["quantization_config"] = Mxfp4Config(dequantize=True)
    with console.status(f"merging {adapter_dir.name} into {base}"):
        model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
        if "quantization_config" in kwargs:
            finish_mxfp4_load(model, kwargs["dtype"])
        model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(out_dir))
    tokenizer = AutoTokenizer.from_pretrained(
        str(adapter_dir) if (adapter_dir / "tokenizer_config.json").is_file() else base
    )
    save_tokenizer_and_generation_config(base, tokenizer, out_dir)
    return out_dir


def export_model(recipe: BaseRecipe) -> Path | None:
    """The servable folder of a finished run: the merged LoRA model, or the fully fine-tuned one."""
    from medswallow.train.arguments import final_dir
    from medswallow.train.modeling import model_source

    trained = final_dir(recipe)
    out = recipe.export_dir
    if recipe.method == "full":
        if out != trained:
            shutil.copytree(trained, out, dirs_exist_ok=True)
        return out
    if not recipe.export.merge:
        return None
    if recipe.model.random_init:
        console.print(
            "[yellow]note:[/yellow] model.random_init: no base weights to merge into; adapter kept only"
        )
        return None
    if recipe.model.experts_dtype == "mxfp4":  # the base is too big for host memory: merge tensor by tensor
        from medswallow.train.mxfp4 import merge_adapter_streaming, release_scratch

        release_scratch()
        return merge_adapter_streaming(model_source(recipe), trained, out, recipe.export.dtype)
    return merge_adapter(model_source(recipe), trained, out, recipe.export.dtype, recipe.model.revision)


# --- eval hook -----------------------------------------------------------------------------------------------


def eval_command_available() -> bool:
    """Whether this install has a ``medswallow eval`` command (medswallow.bench)."""
    from medswallow.cli import app

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    names |= {g.name or "" for g in app.registered_groups}
    return "eval" in names


def check_eval_hook(recipe: BaseRecipe) -> None:
    """Before training: the suite file exists and the eval command is installed (not after 10 GPU-hours)."""
    if recipe.eval_suite is None:
        return
    suite = recipe.resolve(recipe.eval_suite.suite)
    if not suite.is_file():
        raise UserError(f"eval_suite.suite: {suite} not found")
    if not eval_command_available():
        raise UserError(
            "eval_suite needs the `medswallow eval` command (medswallow.bench), which this install does not "
            "have; install the [eval] extra (pip install 'medswallow[eval]') or remove eval_suite from the recipe"
        )
    import importlib.util

    from medswallow.bench.suite import Suite
    from medswallow.config import load_config

    parsed = load_config(Suite, suite)  # a broken suite fails now, with its own file/line message
    if (
        parsed.backend.kind == "server"
        and recipe.eval_suite.serve
        and importlib.util.find_spec("vllm") is None
    ):
        raise UserError(
            "eval_suite: the suite's server backend needs vLLM to serve the trained model, and vllm is not "
            "installed here; install it, or set eval_suite.serve: false and pass --base-url in eval_suite.args"
        )


def run_eval_hook(recipe: BaseRecipe, model_dir: Path) -> Path | None:
    """``medswallow eval SUITE`` on the exported model, as a user would run it, in a child process.

    A suite with a server backend gets a vLLM server on ``model_dir`` for the length of the run.
    Returns the eval output folder.
    """
    if recipe.eval_suite is None:
        return None
    from medswallow.bench.suite import Suite
    from medswallow.config import load_config

    hook = recipe.eval_suite
    suite_path = recipe.resolve(hook.suite)
    suite = load_config(Suite, suite_path)
    out = recipe.resolve(hook.out) if hook.out else recipe.output_dir / "eval"
    cmd = [sys.executable, "-m", "medswallow.cli", "eval", str(suite_path), "-o", str(out), *hook.args]
    if suite.backend.kind == "server" and hook.serve:
        from medswallow.inference.server import VLLMServer

        out.mkdir(parents=True, exist_ok=True)
        server = VLLMServer(
            model=str(model_dir),
            served_model_name="medswallow-trained",
            port=_free_port(),
            tensor_parallel_size=hook.tensor_parallel_size,
            max_model_len=None,  # the model's own context length
            extra_args=list(hook.server_args),
            log_path=out / "vllm-server.log",
        )
        with console.status(f"starting vLLM on {model_dir}"):
            server.start()
        try:
            code = _run_eval(cmd + ["--model", "medswallow-trained", "--base-url", server.base_url])
        finally:
            server.stop()
    else:
        code = _run_eval(cmd + ["--model", str(model_dir)])
    if code != 0:
        raise UserError(
            f"training finished and the model is saved in {model_dir}, but the eval suite failed (exit {code}); "
            f"see {out} and rerun: medswallow {' '.join(cmd[3:])}"
        )
    return out


def _run_eval(cmd: list[str]) -> int:
    console.print(f"running: medswallow {' '.join(cmd[3:])}")
    return subprocess.run(cmd, check=False).returncode


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
