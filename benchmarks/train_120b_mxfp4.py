"""gpt-oss-120b LoRA on one GPU with the experts kept in MXFP4: peak memory, tokens/s, plan vs measured.

    # the GPU batch (one H200): dequantization kernels, 120B MXFP4, 20b MXFP4 next to 20b bf16, streaming load
    python benchmarks/train_120b_mxfp4.py --out OUT --budget-s 500
    # one run on its own
    python benchmarks/train_120b_mxfp4.py --out OUT --runs 120b-mxfp4 --micro-batch 8 --accum 2
    # CPU smoke run: the same code on the tiny architecture (proves the script, no figures)
    python benchmarks/train_120b_mxfp4.py --out /tmp/mx120 --tiny --device cpu

Models are the gpt-oss architectures with random weights (no hub on the GPU machine): for ``*-mxfp4`` runs
the experts are drawn in bf16 layer by layer on the GPU and quantized there (``medswallow.train.mxfp4
.init_random``), so no 61 GB checkpoint has to be written; ``load-1layer`` times the checkpoint path on a
one-layer 120B-shaped bf16 checkpoint written to disk. Training is what ``medswallow train`` runs for a
recipe with ``model.experts_dtype: mxfp4``: ``load_mxfp4_model``, the ``performance`` levers (flex attention,
grouped experts, chunked loss, full activation checkpointing), PEFT LoRA on attention + experts of every
layer, AdamW (fused) over the adapters; random token rows of ``--seq`` tokens. Tokens/s counts the steps
after ``--warmup`` over wall time with the GPU synchronised; peak is ``torch.cuda.max_memory_allocated``;
``plan`` is ``medswallow.train.plan.estimate_memory`` for the same run (what ``--dry-run`` prints).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GIB = 2**30
ARCH = {
    # openai/gpt-oss-120b and -20b config.json (GptOssConfig's other defaults are theirs)
    "120b": {"num_hidden_layers": 36, "num_local_experts": 128, "num_experts_per_tok": 4},
    "20b": {"num_hidden_layers": 24, "num_local_experts": 32, "num_experts_per_tok": 4},
    "tiny": {
        "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 32, "intermediate_size": 128, "num_local_experts": 8, "num_experts_per_tok": 2,
        "sliding_window": 16, "max_position_embeddings": 4096,
    },
}  # fmt: skip
# A training run is ARCH-EXPERTS[:MICROxACCUM]; the micro-batch and accumulation default to the flags.
RUNS = ("dequant", "120b-mxfp4", "20b-mxfp4", "20b-bf16", "write-1layer", "load-1layer", "120b-mxfp4:16x1")


def model_config(arch: str, layers: int | None = None) -> Any:
    from transformers import GptOssConfig

    spec = dict(ARCH[arch])
    if layers is not None:
        spec["num_hidden_layers"] = layers
    n = spec["num_hidden_layers"]
    spec["layer_types"] = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(n)]
    return GptOssConfig(**spec)


def lora_config(r: int) -> Any:
    """The 1-GPU recipe's targets (pipelines/train/cpt-lora-120b-1gpu.yaml): attention + experts, every layer."""
    from medswallow.train.peft_targets import lora_config as recipe_lora
    from medswallow.train.recipe import LoraSection

    return recipe_lora(LoraSection(r=r, alpha=2 * r, targets=["attention", "experts"]))


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------------------- dequantization


def run_dequant(args: argparse.Namespace) -> dict[str, Any]:
    """One 120B layer's gate_up experts [128, 5760, 2880]: torch vs Triton dequantization, and the FP4 error."""
    import torch

    from medswallow.train import mxfp4

    dev = args.device
    experts = 8 if args.tiny or dev == "cpu" else 128
    g = torch.Generator(device=dev).manual_seed(0)
    w = (torch.randn(experts, 2880, 5760, device=dev, generator=g) * 0.02).to(torch.bfloat16)
    blocks, scales = mxfp4.quantize_mxfp4(w)
    sync(dev)
    t0 = time.perf_counter()
    for _ in range(3):
        mxfp4.quantize_mxfp4(w)
    sync(dev)
    quant_s = (time.perf_counter() - t0) / 3
    out: dict[str, Any] = {"experts": experts, "shape": [experts, 2880, 5760], "quantize_s": quant_s}
    ref = mxfp4.dequantize_mxfp4(blocks, scales, torch.bfloat16).transpose(1, 2)
    diff = ref.float() - w.float()
    out["rel_frobenius_error"] = float(diff.norm() / w.float().norm())
    out["max_abs_error_over_max_abs"] = float(diff.abs().max() / w.float().abs().max())
    out["bytes_bf16"] = w.numel() * 2
    out["bytes_mxfp4"] = blocks.numel() + scales.numel()
    impls = ["torch"] + (["triton"] if dev == "cuda" and mxfp4._triton_kernel() is not None else [])
    moved = blocks.numel() + scales.numel() + w.numel() * 2  # read codes + scales, write bf16
    buf = torch.empty(experts, 5760, 2880, dtype=torch.bfloat16, device=dev)
    for impl in impls:
        mxfp4.set_dequant_impl(impl)
        buf.fill_(float("nan"))  # poison: every element must be written
        mxfp4.dequantize_mxfp4(blocks, scales, torch.bfloat16, out=buf)
        equal = bool(torch.equal(buf.transpose(1, 2), ref))
        times = []
        for _ in range(5):
            sync(dev)
            t0 = time.perf_counter()
            mxfp4.dequantize_mxfp4(blocks, scales, torch.bfloat16, out=buf)
            sync(dev)
            times.append(time.perf_counter() - t0)
        best = sorted(times)[len(times) // 2]
        out[impl] = {"median_s": best, "GB_per_s": moved / best / 1e9, "bit_equal": equal}
    mxfp4.set_dequant_impl("auto")
    return out


# ---------------------------------------------------------------------------------------------- training


def build(args: argparse.Namespace, arch: str, experts_dtype: str) -> tuple[Any, float]:
    import torch
    from transformers import AutoModelForCausalLM

    from medswallow.train.mxfp4 import load_mxfp4_model

    config = model_config(arch)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    t0 = time.perf_counter()
    if experts_dtype == "mxfp4":
        model = load_mxfp4_model(
            config, None, device=device, dtype=dtype, attn_implementation="eager", seed=42
        )
    else:
        torch.manual_seed(42)
        with device:
            model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="eager")
    sync(args.device)
    model.config.use_cache = False
    return model, time.perf_counter() - t0


def plan_estimate(
    model_cfg: Any, args: argparse.Namespace, experts_dtype: str, total: int, trainable: int
) -> dict[str, float]:
    from medswallow.train.plan import estimate_memory

    est = estimate_memory(
        model_cfg, total, trainable, method="lora", weight_bytes=2 if args.device == "cuda" else 4,
        batch=args.micro_batch, seq=args.seq, attention="flex_attention", checkpointing=True,
        packed_flat=False, shard=1, experts_dtype=experts_dtype,
    )  # fmt: skip
    return {"total_gib": est.total / GIB, "weights_gib": est.weights / GIB, "activations_gib": est.activations / GIB,
            "lora_states_gib": (est.gradients + est.optimizer) / GIB}  # fmt: skip


def run_train(args: argparse.Namespace, name: str) -> dict[str, Any]:
    import torch
    from peft import get_peft_model

    from medswallow.train.perf import PerfConfig, apply_perf

    spec, _, shape = name.partition(":")
    if shape:
        micro, accum = shape.split("x")
        args.micro_batch, args.accum = int(micro), int(accum)
    arch, experts_dtype = spec.split("-")
    arch = "tiny" if args.tiny else arch
    dev = args.device
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model, build_s = build(args, arch, experts_dtype)
    total = sum(p.numel() for p in model.parameters())
    loaded_gib = torch.cuda.memory_allocated() / GIB if dev == "cuda" else 0.0
    perf = PerfConfig(
        attention="flex" if dev == "cuda" else "keep", experts="grouped", loss="chunked", checkpointing="full"
    )
    apply_perf(model, perf)
    model = get_peft_model(model, lora_config(args.r))
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    opt = torch.optim.AdamW(trainable, lr=1e-4, fused=dev == "cuda")
    vocab = model.config.vocab_size
    g = torch.Generator(device=dev).manual_seed(0)
    model.train()
    times, losses = [], []
    for step in range(args.warmup + args.steps):
        sync(dev)
        t0 = time.perf_counter()
        for _ in range(args.accum):
            ids = torch.randint(3, vocab - 1024, (args.micro_batch, args.seq), device=dev, generator=g)
            loss = model(input_ids=ids, labels=ids).loss
            (loss / args.accum).backward()
            losses.append(float(loss.detach()))
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(dev)
        times.append(time.perf_counter() - t0)
        print(f"{name} step {step}: {times[-1]:.2f} s, loss {losses[-1]:.3f}", flush=True)
    timed = times[args.warmup :]
    tokens = args.micro_batch * args.accum * args.seq
    result = {
        "arch": arch, "experts_dtype": experts_dtype, "micro_batch": args.micro_batch, "accum": args.accum,
        "seq": args.seq, "sequences_per_step": args.micro_batch * args.accum, "lora_r": args.r,
        "params_total": total, "params_trainable": n_trainable, "build_s": build_s,
        "step_s": times, "tokens_per_s": tokens * len(timed) / sum(timed), "losses": losses,
        "loaded_gib": loaded_gib, "levers": "flex attention, grouped experts, chunked loss, full checkpointing",
        "plan": plan_estimate(model.config, args, experts_dtype, total, n_trainable),
    }  # fmt: skip
    if dev == "cuda":
        result["peak_allocated_gib"] = torch.cuda.max_memory_allocated() / GIB
        result["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / GIB
        result["plan_over_peak"] = result["plan"]["total_gib"] / result["peak_allocated_gib"]
    return result


# ------------------------------------------------------------------------------------------------ loading


def run_write(args: argparse.Namespace) -> dict[str, Any]:
    """Write a one-layer 120B-shaped bf16 checkpoint, one tensor per file (the writer holds one at a time)."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    config = model_config("tiny" if args.tiny else "120b", layers=1)
    folder = Path(args.scratch) / "ckpt-1layer"
    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(folder)
    dev = torch.device(args.device)
    t0 = time.perf_counter()

    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    weight_map, size = {}, 0
    for i, (name, p) in enumerate(skeleton.named_parameters()):
        # One file per tensor: the writer never holds more than one tensor either.
        t = (torch.randn(p.shape, device=dev, dtype=torch.bfloat16) * 0.02).cpu()
        file = f"part-{i:04d}.safetensors"
        save_file({name: t}, str(folder / file))
        weight_map[name] = file
        size += t.nbytes
        del t
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": size}, "weight_map": weight_map})
    )
    return {"checkpoint_gib": size / GIB, "write_s": time.perf_counter() - t0,
            "largest_tensor_gib": max(p.numel() for p in skeleton.parameters()) * 2 / GIB}  # fmt: skip


def run_load(args: argparse.Namespace) -> dict[str, Any]:
    """Stream-load the checkpoint ``write-1layer`` wrote, experts quantized to MXFP4 on the device."""
    import torch
    from transformers import AutoConfig

    from medswallow.train.mxfp4 import checkpoint_files, load_mxfp4_model, mxfp4_bytes

    folder = Path(args.scratch) / "ckpt-1layer"
    config = AutoConfig.from_pretrained(folder)
    size = sum(f.stat().st_size for f in checkpoint_files(folder))
    dev = torch.device(args.device)
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    import transformers  # noqa: F401 - libraries in RSS before the load, so the load's own growth shows

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t0 = time.perf_counter()
    model = load_mxfp4_model(config, folder, device=dev, dtype=dtype, attn_implementation="eager")
    sync(args.device)
    load_s = time.perf_counter() - t0
    return {
        "checkpoint_gib": size / GIB, "load_s": load_s,
        "load_GB_per_s": size / load_s / 1e9, "mxfp4_gib": mxfp4_bytes(model) / GIB,
        "host_peak_rss_gib_before_load": rss_before,
        "host_peak_rss_gib_after_load": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }  # fmt: skip


# ------------------------------------------------------------------------------------------------ driver


def run_one(args: argparse.Namespace, name: str) -> dict[str, Any]:
    if name == "dequant":
        return run_dequant(args)
    if name == "write-1layer":
        return run_write(args)
    if name == "load-1layer":
        return run_load(args)
    return run_train(args, name)


def table(results: dict[str, Any]) -> str:
    lines = ["| run | seq x micro x accum | tokens/s | peak GiB (alloc/reserved) | plan GiB | weights GiB loaded |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for name, r in results.items():
        if "tokens_per_s" in r:
            lines.append(
                f"| {name} | {r['seq']} x {r['micro_batch']} x {r['accum']} | {r['tokens_per_s']:,.0f} | "
                f"{r.get('peak_allocated_gib', 0):.1f} / {r.get('peak_reserved_gib', 0):.1f} | "
                f"{r['plan']['total_gib']:.1f} | {r['loaded_gib']:.1f} |"
            )
        elif "error" in r:
            lines.append(f"| {name} | failed: {r['error'][:80]} | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", default=",".join(RUNS), help=f"comma list of {', '.join(RUNS)}")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--tiny", action="store_true", help="tiny architecture (CPU smoke run)")
    ap.add_argument("--seq", type=int, default=None, help="tokens per sequence (default 2048; tiny 64)")
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument(
        "--accum", type=int, default=2, help="micro-batches per optimizer step (8 x 2 = 16 sequences)"
    )
    ap.add_argument("--r", type=int, default=16, help="LoRA rank (the 1-GPU recipe's)")
    ap.add_argument("--steps", type=int, default=3, help="timed optimizer steps")
    ap.add_argument("--warmup", type=int, default=1, help="optimizer steps left out of tokens/s")
    ap.add_argument(
        "--budget-s", type=float, default=540.0, help="stop starting runs after this many seconds"
    )
    ap.add_argument("--scratch", default="/tmp/mxfp4-bench", help="where load-1layer writes its checkpoint")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.seq = args.seq or (64 if args.tiny else 2048)
    args.out.mkdir(parents=True, exist_ok=True)
    runs_dir = Path(args.scratch) / "runs"  # per-run files stay out of OUT: it holds summary.json (and logs)
    if args.child:
        result = run_one(args, args.child)
        runs_dir.mkdir(parents=True, exist_ok=True)
        (runs_dir / f"{args.child}.json").write_text(json.dumps(result, indent=2) + "\n")
        return 0

    start = time.perf_counter()
    results: dict[str, Any] = {}
    for name in args.runs.split(","):
        left = args.budget_s - (time.perf_counter() - start)
        if left < 30:
            results[name] = {"error": f"not run: {left:.0f} s of the budget left"}
            continue
        cmd = [sys.executable, __file__, *(argv or sys.argv[1:]), "--child", name]
        print(f"== {name} ({left:.0f} s left)", flush=True)
        try:
            proc = subprocess.run(cmd, timeout=left, check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -1
        path = runs_dir / f"{name}.json"
        results[name] = json.loads(path.read_text()) if path.is_file() else {"error": f"exit {code}"}
    summary = {"runs": results, "argv": sys.argv[1:] if argv is None else argv,
               "elapsed_s": time.perf_counter() - start}  # fmt: skip
    try:
        import torch

        summary["torch"] = torch.__version__
        summary["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        pass
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(table(results))
    for name, r in results.items():
        if name == "dequant" and "torch" in r:
            print(f"dequant {r['shape']}: " + ", ".join(f"{k} {r[k]['median_s'] * 1e3:.1f} ms ({r[k]['GB_per_s']:.0f} GB/s, equal {r[k]['bit_equal']})" for k in ("torch", "triton") if k in r)
                  + f"; FP4 error rel {r['rel_frobenius_error']:.4f}")  # fmt: skip
        if name.startswith("load") and "load_s" in r:
            print(
                f"load 1 layer: {r['checkpoint_gib']:.1f} GiB in {r['load_s']:.1f} s, host peak RSS {r['host_peak_rss_gib_after_load']:.1f} GiB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
