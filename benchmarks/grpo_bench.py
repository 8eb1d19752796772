"""GRPO throughput on the gpt-oss-20b architecture with LoRA: steps/s, and where a step's time goes.

    # one GPU (H100/H200): 20b architecture, random weights, transformers generation, both paths
    python benchmarks/grpo_bench.py --out benchmarks/out/grpo-h100
    # vLLM generation inside the training process (TRL colocate mode)
    python benchmarks/grpo_bench.py --backend vllm_colocate --out benchmarks/out/grpo-h100-vllm
    # the paths one per call (each stays under a 10-minute job limit), then the side-by-side report
    python benchmarks/grpo_bench.py --paths trl --out OUT && python benchmarks/grpo_bench.py --paths medswallow --out OUT
    python benchmarks/grpo_bench.py --report-only --out OUT
    # CPU smoke run on the tiny gpt-oss: proves the script, measures nothing useful
    python benchmarks/grpo_bench.py --tiny --device cpu --steps 3 --warmup-steps 1 --out /tmp/grpo-bench-tiny

Two paths, each in its own process, same model, LoRA, data, group size and completion budget:

- ``trl``: TRL's GRPOTrainer as its docs set it up, with a constant reward (the floor: generation + the
  policy update and nothing else);
- ``medswallow``: ``medswallow train`` on a grpo recipe (the same GRPOTrainer, plus the harmony-parsing
  exam rewards, the eval-set overlap check before training and the project callbacks).

The ratio medswallow / trl is the cost of the verifiable rewards and the recipe around TRL. Each step's
wall time is split into generation (``GRPOTrainer._generate``), reward scoring (``_calculate_rewards``)
and the rest (log-probs, loss, backward, optimizer), by timing those two methods in this process only.
The model has random weights (no hub here), so completions run to ``--max-completion-length``: generation
time is the worst case of a full budget, which is what a reasoning model mostly spends anyway.
The 20b LoRA follows TRL's public gpt-oss recipe: r=8 on all linear layers + the experts of layers 7/15/23.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from medswallow.console import console

PATHS = ("trl", "medswallow")
# gpt-oss-20b (config.json of openai/gpt-oss-20b); GptOssConfig's other defaults are the 20b's.
ARCH_20B = {"num_hidden_layers": 24, "num_local_experts": 32, "num_experts_per_tok": 4}
ARCH_TINY = {
    "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 32, "intermediate_size": 128, "num_local_experts": 4, "num_experts_per_tok": 2,
    "sliding_window": 128, "max_position_embeddings": 4096,
}


# ---------------------------------------------------------------------------------------------- setup


def write_model_dir(
    folder: Path, arch: dict[str, Any], weights: bool, device: str, seed: int, tokenizer_dir: Path | None = None
) -> Path:
    """config.json, generation config and the o200k_harmony tokenizer: what ``random_init`` builds from.

    vLLM loads weights from the folder (TRL starts it from ``model.name_or_path``), so for the vLLM backends
    the random weights are saved too (the 20b in bf16 is ~40 GB of disk; written once, reused).
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, GptOssConfig, set_seed

    from medswallow.models.tiny import EOS_IDS
    from medswallow.models.tokenizer import VOCAB_SIZE, build_hf_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    layers = arch.get("num_hidden_layers", 36)
    config = GptOssConfig(
        **arch,
        vocab_size=VOCAB_SIZE,
        layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
        tie_word_embeddings=False,
        eos_token_id=200002,
        pad_token_id=199999,
        bos_token_id=199998,
    )
    config.save_pretrained(str(folder))
    if weights and not any(folder.glob("*.safetensors")):
        set_seed(seed)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        model.save_pretrained(str(folder), max_shard_size="5GB")
        del model
    GenerationConfig(bos_token_id=199998, eos_token_id=EOS_IDS, pad_token_id=199999, do_sample=True).save_pretrained(str(folder))
    if tokenizer_dir is not None:  # a machine without openai_harmony: the tokenizer files built elsewhere
        import shutil

        for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
            if (tokenizer_dir / name).is_file():
                shutil.copy(tokenizer_dir / name, folder / name)
    else:
        build_hf_tokenizer(folder)
    return folder


def write_exam(folder: Path, n: int, seed: int) -> Path:
    """``n`` synthetic five-choice items in IgakuQA's format (random weights make their content irrelevant)."""
    import random

    rng = random.Random(seed)
    words = ["貧血", "心不全", "腎機能", "肝硬変", "糖尿病", "高血圧", "肺炎", "甲状腺", "副腎", "脳梗塞"]
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "100-A.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            topic = rng.choice(words)
            row = {
                "problem_id": f"100A{i + 1}",
                "problem_text": f"{topic}の患者{i + 1}で最も考えられる所見はどれか。",
                "choices": [f"{rng.choice(words)}の所見{j}" for j in range(5)],
                "text_only": True,
                "answer": [rng.choice("abcde")],
                "points": "1",
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


def expert_layers(num_layers: int) -> list[int]:
    """The recipe's 7/15/23 of 24 layers: the last layer of each third (scaled down for small models)."""
    return [i for i in range(num_layers) if (i + 1) % max(1, num_layers // 3) == 0][:3] or [num_layers - 1]


def recipe_yaml(args: argparse.Namespace, model_dir: Path, exam: Path, out: Path, layers: int) -> str:
    """A grpo recipe for the measured run (what a user would write, with the benchmark's sizes)."""
    prompts_per_step = args.prompts_per_step
    return f"""\
kind: grpo
method: lora
model:
  name_or_path: {model_dir}
  random_init: {"true" if args.backend == "transformers" else "false"}   # vLLM reads the saved random weights
  dtype: {"bfloat16" if args.device == "cuda" else "float32"}
  attn_implementation: auto
  gradient_checkpointing: true
lora: {{r: 8, alpha: 16, targets: [all-linear, experts], expert_layers: {expert_layers(layers)}}}
data:
  train: [{{task: igakuqa, data: {exam}}}]
  reasoning_effort: low
  max_prompt_length: 512
  decontamination: {{allow_unchecked: true}}   # synthetic items: there is no eval set to overlap
generation:
  backend: {args.backend}
  vllm_server_url: {args.vllm_server_url}
  num_generations: {args.num_generations}
  max_completion_length: {args.max_completion_length}
grpo: {{beta: 0.0, loss_type: dapo}}
rewards: {{correct: {{weight: 1.0}}, format: {{weight: 0.2}}, length: {{weight: 0.5}}}}
train:
  output_dir: {out}
  max_steps: {args.steps}
  per_device_batch_size: {args.num_generations}
  gradient_accumulation_steps: {prompts_per_step}
  learning_rate: 1.0e-6
  lr_scheduler: constant
  warmup_ratio: 0.0
  logging_steps: 1
  save_steps: 100000
  report_to: []
  resume: never
export: {{merge: false}}
"""


# ---------------------------------------------------------------------------------------------- timing


class Clock:
    """Wall time per optimizer step, and the share of it spent in generation and in reward scoring."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.current = {"generate": 0.0, "rewards": 0.0}
        self.steps: list[dict[str, float]] = []
        self.started = 0.0

    def sync(self) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def wrap(self, cls: Any, method: str, key: str) -> None:
        original = getattr(cls, method)
        clock = self

        def timed(trainer: Any, *a: Any, **kw: Any) -> Any:
            clock.sync()
            t0 = time.perf_counter()
            try:
                return original(trainer, *a, **kw)
            finally:
                clock.sync()
                clock.current[key] += time.perf_counter() - t0

        setattr(cls, method, timed)

    def callback(self) -> Any:
        from transformers import TrainerCallback

        clock = self

        class StepClock(TrainerCallback):
            def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                clock.sync()
                clock.started = time.perf_counter()

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                clock.sync()
                total = time.perf_counter() - clock.started
                clock.steps.append({"total": total, **clock.current})
                clock.current = {"generate": 0.0, "rewards": 0.0}

        return StepClock()


def constant_reward(prompts: list[Any], completions: list[Any], **kw: Any) -> list[float]:
    return [0.0] * len(completions)


def run_path(args: argparse.Namespace, path: str) -> dict[str, Any]:
    """Run one path in this process; returns per-step times and the trainer's logs."""
    import torch
    from trl import GRPOTrainer

    from medswallow.train.registry import load_recipe

    arch = ARCH_TINY if args.tiny else ARCH_20B
    work = args.out / "work"
    model_dir = write_model_dir(
        work / "model", arch, args.backend != "transformers", args.device, args.seed, args.tokenizer_dir
    )
    exam = write_exam(work / "exam", args.num_items, args.seed)
    recipe_file = work / f"grpo-{path}.yaml"
    recipe_file.write_text(recipe_yaml(args, model_dir, exam, work / path, arch.get("num_hidden_layers", 36)))
    clock = Clock(args.device)
    clock.wrap(GRPOTrainer, "_generate", "generate")
    clock.wrap(GRPOTrainer, "_calculate_rewards", "rewards")
    module, recipe = load_recipe(recipe_file)
    if path == "medswallow":
        from medswallow.train.runner import run

        trainer = run(module, recipe, callbacks=(clock.callback(),)).trainer
    else:
        trainer = run_trl(module, recipe, clock)
    logs = [h for h in trainer.state.log_history if "loss" in h]
    return {
        "path": path,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "arch": "tiny" if args.tiny else "gpt-oss-20b",
        "backend": args.backend,
        "num_generations": args.num_generations,
        "prompts_per_step": args.prompts_per_step,
        "max_completion_length": args.max_completion_length,
        "steps": clock.steps,
        "completion_tokens_per_step": [h.get("completions/mean_length", 0.0) * args.num_generations * args.prompts_per_step for h in logs],
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
    }


def run_trl(module: Any, recipe: Any, clock: Clock) -> Any:
    """TRL's GRPOTrainer set up as its docs do (same model, LoRA, data and arguments), with a constant reward."""
    from trl import GRPOTrainer

    from medswallow.train.grpo import grpo_config
    from medswallow.train.modeling import load_model, load_tokenizer
    from medswallow.train.peft_targets import lora_config

    tokenizer = load_tokenizer(recipe)
    data = module.load_data(recipe, tokenizer).train
    args = grpo_config(recipe, [1.0])
    model = load_model(recipe)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=constant_reward,
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=lora_config(recipe.lora, model.config),
        callbacks=[clock.callback()],
    )
    trainer.train()
    return trainer


# ---------------------------------------------------------------------------------------------- report


def summarise(result: dict[str, Any], warmup: int) -> dict[str, Any]:
    steps = result["steps"][warmup:]
    if not steps:
        raise SystemExit(f"{result['path']}: no steps after the {warmup} warm-up steps; raise --steps")
    total = sum(s["total"] for s in steps)
    gen = sum(s["generate"] for s in steps)
    rew = sum(s["rewards"] for s in steps)
    tokens = sum(result["completion_tokens_per_step"][warmup:])
    return {
        "path": result["path"],
        "steps_measured": len(steps),
        "steps_per_s": len(steps) / total,
        "s_per_step": total / len(steps),
        "generation_share": gen / total,
        "reward_share": rew / total,
        "training_share": (total - gen - rew) / total,
        "completion_tokens_per_s": tokens / total,
        "peak_memory_gib": result["peak_memory_gib"],
    }


def report(out: Path, warmup: int) -> dict[str, Any]:
    runs = {p: json.loads((out / f"{p}.json").read_text()) for p in PATHS if (out / f"{p}.json").is_file()}
    if not runs:
        raise SystemExit(f"no results in {out}; run the paths first")
    rows = {p: summarise(r, warmup) for p, r in runs.items()}
    first = next(iter(runs.values()))
    table = Table(title=f"GRPO, {first['arch']} LoRA on {first['device']} ({first['backend']} generation, "
                        f"{first['prompts_per_step']} prompts x {first['num_generations']} completions x "
                        f"{first['max_completion_length']} tokens per step)")
    for col in ("path", "steps/s", "s/step", "generation", "rewards", "training", "completion tok/s", "peak GiB"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for p, s in rows.items():
        table.add_row(p, f"{s['steps_per_s']:.4f}", f"{s['s_per_step']:.1f}", f"{s['generation_share']:.0%}",
                      f"{s['reward_share']:.1%}", f"{s['training_share']:.0%}", f"{s['completion_tokens_per_s']:.0f}",
                      "-" if s["peak_memory_gib"] is None else f"{s['peak_memory_gib']:.1f}")
    summary: dict[str, Any] = {"runs": rows}
    if len(rows) == 2:
        summary["ratio_medswallow_over_trl"] = rows["medswallow"]["steps_per_s"] / rows["trl"]["steps_per_s"]
        table.caption = f"medswallow / trl steps/s: {summary['ratio_medswallow_over_trl']:.3f}"
    console.print(table)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/grpo"))
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--tiny", action="store_true", help="the tiny gpt-oss (CPU smoke run) instead of the 20b")
    ap.add_argument("--paths", default=",".join(PATHS), help="comma-separated: trl, medswallow")
    ap.add_argument("--backend", choices=["transformers", "vllm_colocate", "vllm_server"], default="transformers")
    ap.add_argument("--vllm-server-url", default="http://127.0.0.1:8000", help="vllm_server: `trl vllm-serve` address")
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per path")
    ap.add_argument("--warmup-steps", type=int, default=2, help="first steps left out (compilation, allocator)")
    ap.add_argument("--num-generations", type=int, default=8, help="completions per prompt (GRPO group)")
    ap.add_argument("--prompts-per-step", type=int, default=4, help="prompts per optimizer step")
    ap.add_argument("--max-completion-length", type=int, default=1024)
    ap.add_argument("--num-items", type=int, default=256, help="synthetic exam items")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer-dir", type=Path, default=None, help="o200k_harmony tokenizer files (default: build)")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--one-path", help=argparse.SUPPRESS)  # internal: run one path in this process
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    if args.one_path:
        result = run_path(args, args.one_path)
        (args.out / f"{args.one_path}.json").write_text(json.dumps(result, indent=2) + "\n")
        return 0
    if not args.report_only:
        for path in [p.strip() for p in args.paths.split(",") if p.strip()]:
            if path not in PATHS:
                raise SystemExit(f"unknown path {path!r}; use {', '.join(PATHS)}")
            # Own process per path: peak memory and compiled state are each path's own.
            cmd = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--one-path", path]
            console.print(f"[bold]{path}[/bold]: {' '.join(cmd[1:])}")
            env = {**os.environ, "TMPDIR": os.environ.get("TMPDIR", tempfile.gettempdir())}
            code = subprocess.run(cmd, env=env, check=False).returncode
            if code:
                raise SystemExit(f"path {path} failed with exit {code}")
    report(args.out, args.warmup_steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
