"""Training throughput of gpt-oss LoRA: the public TRL recipe vs medswallow's throughput levers, side by side.

    # one GPU (H100): gpt-oss-20b architecture, random weights, 20 optimizer steps per path
    python benchmarks/train_throughput.py --out benchmarks/out/throughput-h100
    # the same in separate calls (each stays under a 10-minute job limit), then the side-by-side report
    python benchmarks/train_throughput.py --paths trl --out OUT
    python benchmarks/train_throughput.py --paths medswallow --out OUT
    python benchmarks/train_throughput.py --report-only --out OUT
    # CPU smoke run: both paths on a tiny gpt-oss; proves the script and that the two paths train alike
    python benchmarks/train_throughput.py --tiny --device cpu --out /tmp/throughput-tiny
    # exact gradients on a small config against a float32 reference (on GPU: float32 and bfloat16 levers)
    python benchmarks/train_throughput.py --check-grads [--device cpu]

Path ``trl`` is the public gpt-oss-20b LoRA recipe: TRL SFTTrainer, eager attention, LoRA r=8 on all
linear layers + the experts of layers 7/15/23, micro-batch 4 x 4 accumulation, sequences of 2048,
gradient checkpointing, bf16. Path ``medswallow`` is the same recipe (same data, seed, LoRA, optimizer
and schedule) with ``apply_perf``: flex attention with sinks, grouped-GEMM experts with fused LoRA,
selective checkpointing of the MoE blocks, compiled decoder layers. Both paths score through TRL's own
fused LM head (TRL >= 1.16 never builds the full logits in SFTTrainer), so the cross-entropy lever is
the same on both sides here. Each path runs in its own process, so peak memory is its own. Tokens/s is
measured over the steps after ``--warmup-steps`` (compilation); MFU counts 6 x active parameters per
token (attention, router, top-k experts, lm_head; not the input embedding) against ``--peak-tflops``.
"""

from __future__ import annotations

import argparse
import json
import math
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
GLOBAL_BATCH = 16  # sequences per optimizer step: 4 x 4 in the public recipe

# gpt-oss-20b (config.json of openai/gpt-oss-20b); GptOssConfig's other defaults are the 20b's.
ARCH_20B = {"num_hidden_layers": 24, "num_local_experts": 32, "num_experts_per_tok": 4}
ARCH_TINY = {
    "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 32, "intermediate_size": 128, "num_local_experts": 4, "num_experts_per_tok": 2,
    "sliding_window": 16, "max_position_embeddings": 4096,
}
ARCH_SMALL = {  # gradient check: every feature of the 20b (GQA, sinks, sliding + full, top-4 of 8) at small size
    "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2,
    "head_dim": 32, "intermediate_size": 256, "num_local_experts": 8, "num_experts_per_tok": 4,
    "sliding_window": 32, "max_position_embeddings": 4096,
}


# ---------------------------------------------------------------------------------------------- setup


def model_config(arch: dict[str, Any]) -> Any:
    from transformers import GptOssConfig

    layers = arch.get("num_hidden_layers", 36)
    return GptOssConfig(
        **arch,
        layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
        tie_word_embeddings=False,
        pad_token_id=0,
        use_cache=False,
    )


def expert_layers(num_layers: int) -> list[int]:
    """The recipe's 7/15/23 of 24 layers: the last layer of each third (scaled down for small models)."""
    return [i for i in range(num_layers) if (i + 1) % max(1, num_layers // 3) == 0][:3] or [num_layers - 1]


def lora_config(num_layers: int, init_lora_weights: bool = True) -> Any:
    from peft import LoraConfig

    params = [f"{i}.mlp.experts.{name}" for i in expert_layers(num_layers) for name in ("gate_up_proj", "down_proj")]
    return LoraConfig(
        r=8, lora_alpha=16, target_modules="all-linear", target_parameters=params, init_lora_weights=init_lora_weights
    )


def active_parameters(config: Any) -> int:
    """Parameters one token passes through (matmul FLOPs / 2): attention, router, top-k experts, lm_head."""
    h, heads, kv, d = config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.head_dim
    inter, experts, top_k = config.intermediate_size, config.num_local_experts, config.num_experts_per_tok
    attention = 2 * h * heads * d + 2 * h * kv * d
    moe = top_k * (h * 2 * inter + inter * h) + h * experts
    return config.num_hidden_layers * (attention + moe) + config.vocab_size * h


def placeholder_tokenizer() -> Any:
    """SFTTrainer wants a tokenizer for its pad token; the data is already token ids (no hub needed)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
        pad_token="<pad>", eos_token="<eos>", unk_token="<unk>",
    )


def token_rows(count: int, seq: int, vocab: int, variable: bool, seed: int) -> list[list[int]]:
    """Random token ids, the same rows for both paths. variable: lengths uniform in [seq/8, seq]."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(2, seq // 8), seq + 1, count) if variable else [seq] * count
    return [rng.integers(3, max(4, vocab - 1024), int(n)).tolist() for n in lengths]


def perf_config(args: argparse.Namespace) -> Any:
    from medswallow.train.perf import PerfConfig

    cuda = args.device == "cuda"
    return PerfConfig(
        attention=args.attention or ("flex" if cuda else "keep"),
        experts=args.experts,
        checkpointing=args.checkpointing,
        checkpoint_blocks=args.checkpoint_blocks.split(","),
        compile=cuda if args.compile is None else args.compile,
        padding_free=args.data == "variable",
    )


# ------------------------------------------------------------------------------------------- one path


def build_model(args: argparse.Namespace, arch: dict[str, Any], dtype: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(args.seed)
    with torch.device(args.device):
        model = AutoModelForCausalLM.from_config(model_config(arch), dtype=dtype, attn_implementation="eager")
    model.config.use_cache = False
    return model


def step_clock(device: str) -> Any:
    """A TrainerCallback that records the wall time at the end of every optimizer step, and every log."""
    import torch
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.start = 0.0
            self.step_end: list[float] = []
            self.logs: list[dict[str, float]] = []

        def _now(self) -> float:
            if device == "cuda":
                torch.cuda.synchronize()  # GPU work of the step is done before the clock reads
            return time.perf_counter()

        def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
            self.start = self._now()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            self.step_end.append(self._now())

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                numbers = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
                self.logs.append({"step": state.global_step, **numbers})

    return StepClock()


def run_path(args: argparse.Namespace, path: str) -> dict[str, Any]:
    """Train ``path`` for ``args.steps`` optimizer steps; return its step times, logs and peak memory."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from medswallow.train.packing import install_packed_sequence_masks
    from medswallow.train.perf import apply_perf, describe, trainer_arguments

    cuda = args.device == "cuda"
    arch = {**ARCH_TINY, **({"vocab_size": args.vocab} if args.vocab else {})} if args.tiny else ARCH_20B
    dtype = torch.bfloat16 if cuda else torch.float32
    model = build_model(args, arch, dtype)
    micro = args.micro_batch if path == "medswallow" else 4
    levers: dict[str, str] = {"recipe": "public TRL gpt-oss LoRA recipe (eager attention, full checkpointing)"}
    extra: dict[str, Any] = {"gradient_checkpointing": True, "max_length": args.seq}
    if path == "medswallow":
        perf = perf_config(args)
        apply_perf(model, perf)
        install_packed_sequence_masks(model)  # eager + padding-free keeps examples apart (flex has its own masks)
        levers = describe(perf)
        extra = {"gradient_checkpointing": False, "max_length": args.seq, **trainer_arguments(perf)}
        if perf.padding_free:
            extra["max_length"] = None  # rows are already <= seq; TRL refuses max_length without packing here
    rows = token_rows(args.steps * GLOBAL_BATCH, args.seq, model.config.vocab_size, args.data == "variable", args.seed)
    clock = step_clock(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        config = SFTConfig(
            output_dir=tmp, max_steps=args.steps, per_device_train_batch_size=micro,
            gradient_accumulation_steps=GLOBAL_BATCH // micro, learning_rate=2e-4,
            lr_scheduler_type="cosine_with_min_lr", lr_scheduler_kwargs={"min_lr_rate": 0.1}, warmup_steps=0.03,
            logging_steps=1, report_to=[], save_strategy="no", seed=args.seed, bf16=cuda, use_cpu=not cuda,
            dataloader_num_workers=0, disable_tqdm=True, packing=False, **extra,
        )
        trainer = SFTTrainer(
            model=model, args=config, train_dataset=Dataset.from_dict({"input_ids": rows}),
            processing_class=placeholder_tokenizer(), peft_config=lora_config(model.config.num_hidden_layers),
            callbacks=[clock],
        )
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
    if cuda:
        peak_gib = torch.cuda.max_memory_allocated() / 2**30
    else:
        import resource

        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # process RSS on CPU
    installed = {  # what really ran, read off the model after training
        "attention": model.config._attn_implementation,
        "medswallow_experts_layers": sum(hasattr(m, "_medswallow_experts") for m in model.modules()),
        "checkpointed_regions": sum(hasattr(m, "_medswallow_uncheckpointed_forward") for m in model.modules()),
        "hf_gradient_checkpointing": bool(getattr(model, "is_gradient_checkpointing", False)),
    }
    return {
        "path": path, "levers": levers, "installed": installed, "micro_batch": micro, "start": clock.start, "step_end": clock.step_end,
        "logs": clock.logs, "peak_memory_gib": peak_gib,
        "device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
        "active_parameters": active_parameters(model.config),
    }


# ------------------------------------------------------------------------------------------ reporting


def summarise(result: dict[str, Any], warmup: int, peak_tflops: float) -> dict[str, Any]:
    logs = sorted(result["logs"], key=lambda r: r["step"])
    tokens = [r.get("num_tokens", math.nan) for r in logs]  # TRL's running count of real (non-pad) tokens
    per_step = [b - a for a, b in zip([0.0, *tokens], tokens, strict=False)]
    ends = result["step_end"]
    first = min(warmup, len(ends) - 1)
    span = ends[-1] - (ends[first - 1] if first > 0 else result["start"])
    tps = sum(per_step[first:]) / span if span > 0 else math.nan
    return {
        "tokens_per_s": tps,
        "tokens_per_s_all_steps": sum(per_step) / (ends[-1] - result["start"]),
        "peak_memory_gib": result["peak_memory_gib"],
        "mfu": 6 * result["active_parameters"] * tps / (peak_tflops * 1e12),
        "loss": [r["loss"] for r in logs],
        "grad_norm": [r.get("grad_norm", math.nan) for r in logs],
        "steps_timed": len(ends) - first,
    }


def report(out: Path, args: argparse.Namespace) -> dict[str, Any]:
    results = {p: json.loads((out / f"{p}.json").read_text()) for p in PATHS if (out / f"{p}.json").exists()}
    if not results:
        raise SystemExit(f"{out}: no path results (trl.json / medswallow.json) to report")
    summary = {p: r if "error" in r else summarise(r, args.warmup_steps, args.peak_tflops) for p, r in results.items()}
    device = next((r["device"] for r in results.values() if "device" in r), "?")
    table = Table(title=f"gpt-oss LoRA training throughput ({device})")
    for col in ("path", "tokens/s", "vs trl", "peak GiB", "MFU", "final loss"):
        table.add_column(col, justify="left" if col == "path" else "right")
    base = summary.get("trl", {}).get("tokens_per_s")
    for p, s in summary.items():
        if "error" in s:
            table.add_row(p, "failed", "", "", "", s["error"].strip().splitlines()[-1][-60:])
            continue
        ratio = f"{s['tokens_per_s'] / base:.2f}x" if base else ""
        table.add_row(p, f"{s['tokens_per_s']:,.0f}", ratio, f"{s['peak_memory_gib']:.1f}", f"{s['mfu']:.1%}",
                      f"{s['loss'][-1]:.4f}")
    console.print(table)
    max_diff = None
    if all(p in summary and "error" not in summary[p] for p in PATHS):
        a, b = summary["trl"], summary["medswallow"]
        diffs = [abs(x - y) for x, y in zip(a["loss"], b["loss"], strict=False)]
        max_diff = max(diffs)
        curves = Table(title="loss and gradient norm per optimizer step (same data and seed)")
        for col in ("step", "trl loss", "medswallow loss", "|diff|", "trl grad norm", "medswallow grad norm"):
            curves.add_column(col, justify="right")
        for i, (la, lb, ga, gb) in enumerate(zip(a["loss"], b["loss"], a["grad_norm"], b["grad_norm"], strict=False)):
            curves.add_row(str(i + 1), f"{la:.5f}", f"{lb:.5f}", f"{diffs[i]:.2e}", f"{ga:.4g}", f"{gb:.4g}")
        console.print(curves)
    merged = {
        "summary": summary,
        "levers": {p: r.get("levers") for p, r in results.items()},
        "installed": {p: r.get("installed") for p, r in results.items()},
        "max_loss_diff": max_diff,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "run_path"},
    }
    (out / "results.json").write_text(json.dumps(merged, indent=2))
    plot(out, summary)
    return merged


def plot(out: Path, summary: dict[str, Any]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the GPU machine may lack matplotlib: the tables and results.json suffice
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for p, s in summary.items():
        if "loss" in s:
            steps = range(1, len(s["loss"]) + 1)
            ax1.plot(steps, s["loss"], marker="o", label=p)
            ax2.plot(steps, s["grad_norm"], marker="o", label=p)
    ax1.set(xlabel="optimizer step", ylabel="loss", title="training loss")
    ax2.set(xlabel="optimizer step", ylabel="gradient norm", title="gradient norm")
    ax1.legend()
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------------- grad check


def check_grads(args: argparse.Namespace) -> int:
    """LoRA gradients of the levers (float32; on GPU also bfloat16) and of plain bf16 vs plain float32."""
    import copy

    import torch
    from peft import get_peft_model
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from medswallow.train.packing import install_packed_sequence_masks
    from medswallow.train.perf import PerfConfig, apply_perf

    cuda = args.device == "cuda"
    plain = build_model(args, ARCH_SMALL, torch.float32)
    plain.config._experts_implementation = "eager"  # the reference: transformers' per-expert loop
    torch.manual_seed(args.seed + 1)
    # Random A and B: every adapter factor has a nonzero gradient to compare (B starts at 0 in training).
    plain = get_peft_model(plain, lora_config(plain.config.num_hidden_layers, init_lora_weights=False))
    plain.train()
    rows = token_rows(6, min(args.seq, 256), plain.config.vocab_size, True, args.seed)
    padded = DataCollatorForLanguageModeling(pad_token_id=0)([{"input_ids": r} for r in rows])
    flat = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)([{"input_ids": r} for r in rows])

    def grads(model: Any, batch: dict[str, Any], dtype: Any) -> tuple[float, dict[str, Any]]:
        model.to(dtype)  # weights and adapters in the training dtype, as the benchmark paths train
        model.zero_grad()
        batch = {k: v.to(args.device) if hasattr(v, "to") else v for k, v in batch.items()}
        loss = model(**batch, output_router_logits=True).loss
        loss.backward()
        return loss.item(), {n: p.grad.float() for n, p in model.named_parameters() if p.grad is not None}

    ref_loss, ref = grads(plain, padded, torch.float32)
    levers = PerfConfig(
        attention="flex" if cuda else "keep", experts="grouped", loss="chunked", checkpointing="selective",
        checkpoint_blocks=["mlp"], compile=bool(args.compile), padding_free=True,
    )
    table = Table(title="LoRA gradients vs the plain float32 path (small gpt-oss config, padded vs padding-free)")
    for col in ("path", "dtype", "|loss diff|", "worst tensor |g - g_ref| / |g_ref|", "median tensor"):
        table.add_column(col, justify="left" if col == "path" else "right")
    failed = False
    for dtype in [torch.float32] + ([torch.bfloat16] if cuda else []):
        for name in ("plain", "levers"):
            if name == "plain" and dtype == torch.float32:
                continue  # that is the reference itself
            model = copy.deepcopy(plain)
            batch = padded
            if name == "levers":
                apply_perf(model, levers)
                install_packed_sequence_masks(model.get_base_model())
                batch = flat
            loss, got = grads(model, batch, dtype)
            if got.keys() != ref.keys():
                raise SystemExit(f"{name}: gradients for different parameters than the reference")
            errors = sorted(
                (torch.linalg.vector_norm(got[k] - ref[k]) / torch.linalg.vector_norm(ref[k])).item() for k in ref
            )
            worst, median = errors[-1], errors[len(errors) // 2]
            # float32: summation order only. bf16: judged next to the plain bf16 row, which shows bf16's own error.
            bound = 1e-4 if dtype == torch.float32 else 5e-2
            failed |= worst > bound
            table.add_row(name, str(dtype).removeprefix("torch."), f"{abs(loss - ref_loss):.2e}", f"{worst:.2e}",
                          f"{median:.2e}")
    console.print(table)
    console.print("[red]gradient check FAILED[/red]" if failed else "[green]gradient check passed[/green]")
    return 1 if failed else 0


# -------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/train-throughput"))
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--tiny", action="store_true", help="the tiny gpt-oss (CPU smoke run) instead of the 20b")
    ap.add_argument("--vocab", type=int, default=None, help="tiny only: a smaller vocabulary (default 201088)")
    ap.add_argument("--paths", default=",".join(PATHS), help="which paths to run: trl, medswallow or both")
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps per path")
    ap.add_argument("--seq", type=int, default=None, help="sequence length (default 2048; tiny: 64)")
    ap.add_argument("--data", choices=["full", "variable"], default="full",
                    help="full: every row seq tokens (as the anchor run); variable: lengths in [seq/8, seq], "
                         "padded per batch by trl, padding-free for medswallow")
    ap.add_argument("--micro-batch", type=int, default=4, help="medswallow micro-batch (accumulation keeps 16)")
    ap.add_argument("--attention", choices=["keep", "flex"], default=None, help="default: flex on GPU, keep on CPU")
    ap.add_argument("--experts", choices=["keep", "grouped", "loop"], default="grouped")
    ap.add_argument("--checkpointing", choices=["none", "full", "selective"], default="selective")
    ap.add_argument("--checkpoint-blocks", default="mlp", help="selective: comma list of attention, mlp")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None, help="default: on GPU only")
    ap.add_argument("--warmup-steps", type=int, default=None, help="steps left out of tokens/s (default 2; tiny 1)")
    ap.add_argument("--peak-tflops", type=float, default=790.0, help="measured dense bf16 peak (H100: ~790)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--check-grads", action="store_true")
    ap.add_argument("--report-only", action="store_true", help="only merge OUT/trl.json and OUT/medswallow.json")
    ap.add_argument("--run-path", choices=PATHS, help=argparse.SUPPRESS)  # internal: one path in a child process
    args = ap.parse_args(argv)
    if args.seq is None:
        args.seq = 64 if args.tiny else 2048
    if args.warmup_steps is None:
        args.warmup_steps = 1 if args.tiny else 2
    if GLOBAL_BATCH % args.micro_batch:
        ap.error(f"--micro-batch must divide {GLOBAL_BATCH}")
    if args.steps <= args.warmup_steps and not args.check_grads:
        ap.error("--steps must exceed --warmup-steps (the timed steps come after them)")
    return args


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: use --device cpu (with --tiny for a smoke run)")
    if args.check_grads:
        return check_grads(args)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.run_path:
        (args.out / f"{args.run_path}.json").write_text(json.dumps(run_path(args, args.run_path)))
        return 0
    if not args.report_only:
        for path in args.paths.split(","):
            console.print(f"[bold]{path}[/bold]: {args.steps} optimizer steps in a fresh process")
            proc = subprocess.run([sys.executable, __file__, *raw, "--run-path", path], capture_output=True, text=True)
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout)[-4000:]
                console.print(f"[red]{path} failed[/red]:\n{tail}")
                (args.out / f"{path}.json").write_text(json.dumps({"path": path, "error": tail}))
    merged = report(args.out, args)
    console.print(f"results: {args.out / 'results.json'}; plot: {args.out / 'loss.png'}")
    return 0 if all("error" not in s for s in merged["summary"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
