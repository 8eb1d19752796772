"""Throughput levers of gpt-oss LoRA training, one setting per run, through the code `medswallow train` runs.

    # one GPU: the public TRL recipe next to `medswallow train` with the levers given here (20 steps each)
    python benchmarks/train_throughput.py --out benchmarks/out/levers --checkpointing none --micro-batch 8
    # only the medswallow side, a few settings
    python benchmarks/train_throughput.py --paths medswallow --checkpointing selective --out OUT
    # CPU smoke run on a tiny gpt-oss
    python benchmarks/train_throughput.py --tiny --device cpu --steps 3 --out /tmp/throughput-tiny
    # LoRA gradients of the levers against the plain path (float32; on GPU bf16 judged against plain bf16)
    python benchmarks/train_throughput.py --check-grads [--device cpu]

There is one code path: the ``medswallow`` side is ``medswallow train benchmarks/train_lora_20b.yaml`` with
``--set performance.*`` for the levers asked for here (through ``benchmarks/train_vs_trl.py``, which also runs
TRL's public recipe on the same rows as the ``trl`` side). Levers left out stay on ``auto`` (the plan's
choice). Results: OUT/results.json and the table train_vs_trl.py prints.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.table import Table

from medswallow.console import console

PATHS = ("trl", "medswallow")
GRAD_FLOOR_FACTOR = 4.0  # bf16 levers may be this many times plain bf16's own error (per tensor) before failing
HERE = Path(__file__).resolve().parent

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


def token_rows(count: int, seq: int, vocab: int, variable: bool, seed: int) -> list[list[int]]:
    """Random token ids, the same rows for both paths. variable: lengths uniform in [seq/8, seq]."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(2, seq // 8), seq + 1, count) if variable else [seq] * count
    return [rng.integers(3, max(4, vocab - 1024), int(n)).tolist() for n in lengths]


def build_model(args: argparse.Namespace, arch: dict[str, Any], dtype: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(args.seed)
    with torch.device(args.device):
        model = AutoModelForCausalLM.from_config(model_config(arch), dtype=dtype, attn_implementation="eager")
    model.config.use_cache = False
    return model


def lever_sets(args: argparse.Namespace) -> list[str]:
    """The ``--set performance.*`` overrides for the levers given on the command line (others stay auto)."""
    sets = {
        "attention": args.attention, "experts": args.experts, "checkpointing": args.checkpointing,
        "micro_batch": args.micro_batch,
        "compile": None if args.compile is None else str(args.compile).lower(),
    }  # fmt: skip
    out = [f"performance.{k}={v}" for k, v in sets.items() if v is not None]
    if args.checkpoint_blocks:
        out.append(f"performance.checkpoint_blocks=[{args.checkpoint_blocks}]")
    return out


def run_sweep(args: argparse.Namespace) -> int:
    """TRL's recipe and `medswallow train` with these levers, through benchmarks/train_vs_trl.py."""
    variants = ",".join({"trl": "trl-recipe", "medswallow": "medswallow"}[p] for p in args.paths.split(","))
    cmd = [
        sys.executable, str(HERE / "train_vs_trl.py"), "--out", str(args.out), "--variants", variants,
        "--steps", str(args.steps), "--seq", str(args.seq), "--batch", "4", "--accum", "4",
        "--arch", "tiny" if args.tiny else "20b",
    ]  # fmt: skip
    for item in lever_sets(args):
        cmd += ["--set", item]
    console.print("$ " + " ".join(cmd[1:]))
    return subprocess.run(cmd).returncode


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
    for col in ("path", "dtype", "|loss diff|", "worst tensor |g - g_ref| / |g_ref|", "median tensor", "verdict"):
        table.add_column(col, justify="left" if col in ("path", "verdict") else "right")
    failed = False
    for dtype in [torch.float32] + ([torch.bfloat16] if cuda or args.bf16 else []):
        # float32: the levers must match the reference up to summation order. bfloat16: plain bf16 already
        # differs from float32 by bf16's rounding (the noise floor, per tensor); a lever is wrong only when its
        # error is well above that floor, tensor by tensor (a wrong lever is off by O(1), not by a factor of 2).
        floor: dict[str, float] = {}
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
            per_tensor = {
                k: (torch.linalg.vector_norm(got[k] - ref[k]) / torch.linalg.vector_norm(ref[k])).item() for k in ref
            }
            errors = sorted(per_tensor.values())
            worst, median = errors[-1], errors[len(errors) // 2]
            if name == "plain":
                floor = per_tensor
                verdict = "bf16 noise floor"
            elif dtype == torch.float32:
                bad = worst > 1e-4
                verdict = "FAILED (> 1e-4)" if bad else "ok (<= 1e-4)"
                failed |= bad
            else:
                over = [k for k, e in per_tensor.items() if e > GRAD_FLOOR_FACTOR * floor[k] + 2e-3]
                ratio = max(per_tensor[k] / max(floor[k], 1e-12) for k in per_tensor)
                verdict = f"FAILED: {len(over)} tensors" if over else f"ok (<= {GRAD_FLOOR_FACTOR:g}x floor; max {ratio:.2f}x)"
                failed |= bool(over)
            table.add_row(name, str(dtype).removeprefix("torch."), f"{abs(loss - ref_loss):.2e}", f"{worst:.2e}",
                          f"{median:.2e}", verdict)
    console.print(table)
    console.print("[red]gradient check FAILED[/red]" if failed else "[green]gradient check passed[/green]")
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/train-throughput"))
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--tiny", action="store_true", help="the tiny gpt-oss (CPU smoke run) instead of the 20b")
    ap.add_argument("--paths", default=",".join(PATHS), help="which paths to run: trl, medswallow or both")
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps per path")
    ap.add_argument("--seq", type=int, default=None, help="sequence length (default 2048; tiny: 128)")
    ap.add_argument("--micro-batch", default=None, help="medswallow micro-batch (16 sequences per step kept)")
    ap.add_argument("--attention", choices=["auto", "keep", "flex"], default=None)
    ap.add_argument("--experts", choices=["auto", "keep", "grouped", "loop"], default=None)
    ap.add_argument("--checkpointing", choices=["auto", "keep", "none", "full", "selective"], default=None)
    ap.add_argument("--checkpoint-blocks", default=None, help="selective: comma list of attention, mlp")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None, help="default: auto")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--check-grads", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="--check-grads: the bfloat16 rows on CPU too (always on GPU)")
    args = ap.parse_args(argv)
    if args.seq is None:
        args.seq = 128 if args.tiny else 2048
    return args


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: use --device cpu (with --tiny for a smoke run)")
    if args.check_grads:
        return check_grads(args)
    args.out.mkdir(parents=True, exist_ok=True)
    return run_sweep(args)


if __name__ == "__main__":
    sys.exit(main())
