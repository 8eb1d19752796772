"""Training throughput: `medswallow train` (LoRA, seq 2048) next to TRL's public gpt-oss-20b LoRA recipe.

Both train the gpt-oss-20b architecture with random weights (no hub needed) on the same synthetic documents of
exactly SEQ tokens, in separate processes, and are measured by the same callback (tokens through the model per
second of optimizer-step wall time, first step left out; peak allocated GPU memory).

  trl-recipe      TRL's published recipe (cookbook "fine-tune gpt-oss"): eager attention, LoRA r=8 on all linear
                  layers + experts of layers 7/15/23, batch 4 x 4, seq 2048, gradient checkpointing, bf16.
  medswallow      `medswallow train benchmarks/train_lora_20b.yaml`, no performance flags (`performance: auto`:
                  the plan picks levers, checkpoint policy and micro-batch for the device; 16 sequences per step).
  medswallow-80g  the same with `plan.device_memory_gib: 80` (what auto picks within an H100's memory).
  medswallow-keep the same with every lever on keep (transformers' flex_attention, full checkpointing, 4 x 4).
  medswallow-fold `auto`, except the experts' adapters: PEFT's fold into the bf16 expert weights, as TRL's recipe
                  (experts keep, layers uncompiled). Its curve isolates what the factored adapters change.
  medswallow-eager  keep + eager attention and wrapped rows: the overhead of the toolkit itself.

Both sides read the same rows in the same order (each document is exactly one 2,048-token row ending in
<|endoftext|>; both trainers shuffle with the same seed), so their loss and gradient-norm curves must agree to
bf16 noise; the table shows the largest per-step differences. The first optimizer step (compilation) is
timed apart from the rate.

GPU (prints a table, writes OUT/results.json):
    python benchmarks/train_vs_trl.py --out out/bench-train --steps 20
    python benchmarks/train_vs_trl.py --out out/ctx-32k --variants medswallow --seq 32768 --batch 1 --accum 1
CPU smoke test with the tiny architecture:
    python benchmarks/train_vs_trl.py --arch tiny --seq 128 --batch 1 --accum 2 --steps 3 --out /tmp/bench-train
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "benchmarks" / "train_lora_20b.yaml"

# gpt-oss-20b (openai/gpt-oss-20b config.json) and the tiny test architecture.
ARCHS = {
    "20b": {
        "hidden_size": 2880,
        "num_hidden_layers": 24,
        "num_local_experts": 32,
        "num_experts_per_tok": 4,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "intermediate_size": 2880,
        "sliding_window": 128,
    },
    "tiny": {
        "hidden_size": 128,
        "num_hidden_layers": 2,
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 32,
        "intermediate_size": 128,
        "sliding_window": 128,
    },
}
TRL_EXPERT_LAYERS = (7, 15, 23)
DOC_END = "<|endoftext|>"  # what medswallow's CPT appends to every document; the TRL side is told the same
PEAK_TFLOPS = 790.0  # dense bf16 matrix product measured on the H200 (and H100) machines
WORDS = "the patient blood pressure heart lung kidney liver dose drug test result treatment risk acute chronic".split()


def write_model_dir(out: Path, arch: str, tokenizer_dir: Path) -> Path:
    """config.json of the architecture + the o200k_harmony tokenizer files (weights are built at random)."""
    import shutil

    from transformers import GptOssConfig

    a = ARCHS[arch]
    layer_types = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(a["num_hidden_layers"])]
    config = GptOssConfig(
        vocab_size=201088,
        layer_types=layer_types,
        max_position_embeddings=131072,
        eos_token_id=200002,
        pad_token_id=199999,
        bos_token_id=199998,
        tie_word_embeddings=False,
        **a,
    )
    out.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, out / name)
    return out


def write_corpus(out: Path, tokenizer_dir: Path, docs: int, seq: int, seed: int = 0) -> Path:
    """Documents of exactly seq-1 tokens (one token per word), so every packed row is one full document."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    words = [w for w in WORDS if len(tok(" " + w, add_special_tokens=False)["input_ids"]) == 1]
    rng = random.Random(seed)
    texts = ["".join(" " + rng.choice(words) for _ in range(seq - 1)) for _ in range(docs)]
    assert len(tok(texts[0], add_special_tokens=False)["input_ids"]) == seq - 1
    (out / "data").mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"d{i}", "text": t, "source": "synthetic", "lang": "en", "n_tokens": seq - 1} for i, t in enumerate(texts)]
    pq.write_table(pa.Table.from_pylist(rows), out / "data" / "shard-00000.parquet")
    return out


def random_model(model_dir: Path, attention: str, seed: int):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, set_seed

    set_seed(seed)
    config = AutoConfig.from_pretrained(model_dir)
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    with device:
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attention)
    model.config.use_cache = False
    return model


def run_trl_recipe(args: argparse.Namespace) -> None:
    """TRL's published gpt-oss-20b LoRA recipe, on random weights and the synthetic documents."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from medswallow.train.callbacks import Throughput

    out = Path(args.out_dir)
    tok = AutoTokenizer.from_pretrained(args.model_dir)
    model = random_model(Path(args.model_dir), "eager", args.seed)
    layers = [i for i in TRL_EXPERT_LAYERS if i < model.config.num_hidden_layers] or [0]
    peft_config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules="all-linear",
        target_parameters=[f"{i}.mlp.experts.{p}" for i in layers for p in ("gate_up_proj", "down_proj")],
    )
    cuda = torch.cuda.is_available()
    cfg = SFTConfig(
        output_dir=str(out),
        learning_rate=2e-4,
        gradient_checkpointing=True,
        max_steps=args.steps,
        logging_steps=1,
        per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=args.accum,
        max_length=args.seq,
        warmup_steps=0.03,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": 0.1},
        report_to=[],
        save_strategy="no",
        bf16=cuda,
        use_cpu=not cuda,
        seed=args.seed,
        eos_token=DOC_END,  # the same last token as medswallow's rows: equal data, equal curves
    )
    data = load_dataset("parquet", data_files=str(Path(args.corpus) / "data" / "*.parquet"), split="train")
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=data.select_columns(["text"]), processing_class=tok, peft_config=peft_config)
    trainer.callback_handler.callbacks.insert(0, Throughput(out))
    trainer.train()


def medswallow_command(args: argparse.Namespace, name: str, out: Path) -> list[str]:
    sets = {
        "model.name_or_path": args.model_dir,
        "data.train.0.path": args.corpus,
        "data.max_length": args.seq,
        "train.output_dir": str(out),
        "train.max_steps": args.steps,
        "train.per_device_batch_size": args.batch,
        "train.gradient_accumulation_steps": args.accum,
        "train.seed": args.seed,
    }
    keep = {f"performance.{k}": "keep" for k in ("attention", "experts", "checkpointing", "micro_batch")}
    if name == "medswallow-80g":
        sets["plan.device_memory_gib"] = 80
    elif name == "medswallow-fold":
        sets |= {"performance.experts": "keep", "performance.compile": "false"}
    elif name == "medswallow-keep":
        sets |= keep | {"performance.compile": "false"}
    elif name == "medswallow-eager":
        sets |= keep | {"performance.compile": "false", "model.attn_implementation": "eager", "data.packing": "wrapped"}
    for item in args.set or []:
        key, _, value = item.partition("=")
        sets[key] = value
    if args.arch != "20b":
        sets["lora.expert_layers"] = "[0]"
    cmd = [sys.executable, "-m", "medswallow.cli", "train", str(RECIPE)]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    return cmd


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--arch", choices=sorted(ARCHS), default="20b")
    p.add_argument("--tokenizer-dir", default=None, help="folder with the o200k_harmony tokenizer.json (default: build it)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--accum", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", default="trl-recipe,medswallow,medswallow-80g")
    p.add_argument("--stop-on-failure", action="store_true", help="skip the remaining variants after a failure")
    p.add_argument("--set", action="append", help="extra --set for the medswallow variants (repeatable)")
    p.add_argument("--run-trl", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    p.add_argument("--corpus", help=argparse.SUPPRESS)
    p.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.run_trl:
        run_trl_recipe(args)
        return

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = Path(args.tokenizer_dir) if args.tokenizer_dir else out / "tokenizer"
    if not args.tokenizer_dir:
        from medswallow.models.tokenizer import build_hf_tokenizer

        build_hf_tokenizer(tokenizer_dir)
    args.model_dir = str(write_model_dir(out / f"model-{args.arch}", args.arch, tokenizer_dir))
    docs = args.steps * args.batch * args.accum + 8
    args.corpus = str(write_corpus(out / "corpus", tokenizer_dir, docs, args.seq, args.seed))

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    results = {}
    for name in args.variants.split(","):
        run_out = out / name
        if name == "trl-recipe":
            cmd = [sys.executable, __file__, "--run-trl", "--out", str(out), "--model-dir", args.model_dir,
                   "--corpus", args.corpus, "--out-dir", str(run_out), "--steps", str(args.steps), "--seq", str(args.seq),
                   "--batch", str(args.batch), "--accum", str(args.accum), "--seed", str(args.seed)]  # fmt: skip
        else:
            cmd = medswallow_command(args, name, run_out)
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(cmd, cwd=REPO, env=env).returncode
        summary_path = run_out / "throughput.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        plan_path = run_out / "plan.json"
        if plan_path.is_file():
            plan = json.loads(plan_path.read_text())
            summary["plan"] = {k: plan.get(k) for k in ("memory", "micro_batch", "accumulation", "performance", "performance_reason")}
        results[name] = {**summary, "exit": code, "wall_seconds": round(time.perf_counter() - started, 1)}
        (out / "results.json").write_text(json.dumps({"partial": True, "results": results}, indent=2) + "\n")
        print(f"== {name}: { {k: v for k, v in results[name].items() if k != 'curve'} }", flush=True)
        if code != 0 and args.stop_on_failure:
            print(f"== {name} failed (exit {code}): the remaining variants are not run", flush=True)
            break

    import torch
    import transformers
    import trl

    meta = {
        "arch": args.arch, "seq": args.seq, "batch": args.batch, "accum": args.accum, "steps": args.steps,
        "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
    }  # fmt: skip
    active = active_parameters(args.model_dir)
    base = results.get("trl-recipe", {})
    for r in results.values():
        tps = r.get("tokens_per_second")
        r["mfu"] = round(6 * active * tps / (PEAK_TFLOPS * 1e12), 4) if tps else None
        r |= curve_gap(base.get("curve"), r.get("curve")) if r is not base else {}
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"\n{meta}")
    head = f"{'variant':<16} {'tokens/s':>9} {'vs TRL':>7} {'MFU':>6} {'peak GiB':>9} {'plan GiB':>9} {'micro':>6} "
    print(head + f"{'ckpt':>10} {'1st step s':>10} {'max dloss':>10} {'max dgn%':>9}")
    for name, r in results.items():
        tps = r.get("tokens_per_second") or 0
        ratio = f"{tps / base['tokens_per_second']:.2f}x" if tps and base.get("tokens_per_second") else "-"
        plan = r.get("plan", {})
        print(
            f"{name:<16} {tps:>9.0f} {ratio:>7} {r.get('mfu') or 0:>6.1%} {r.get('peak_memory_gib', 0):>9.1f} "
            f"{plan.get('memory', {}).get('total', 0):>9.1f} {plan.get('micro_batch', '-')!s:>6} "
            f"{plan.get('performance', {}).get('checkpointing', '-'):>10} {r.get('first_step_seconds') or 0:>10.1f} "
            f"{r.get('max_abs_loss_diff', float('nan')):>10.4f} {100 * r.get('max_rel_grad_norm_diff', float('nan')):>9.2f}"
        )


def active_parameters(model_dir: str) -> int:
    """Parameters one token passes through (matmul FLOPs / 2): attention, router, top-k experts, lm_head."""
    from transformers import AutoConfig

    c = AutoConfig.from_pretrained(model_dir)
    h, heads, kv, d = c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim
    attention = 2 * h * heads * d + 2 * h * kv * d
    moe = c.num_experts_per_tok * (h * 2 * c.intermediate_size + c.intermediate_size * h) + h * c.num_local_experts
    return int(c.num_hidden_layers * (attention + moe) + c.vocab_size * h)


def curve_gap(reference: list[dict] | None, curve: list[dict] | None) -> dict:
    """Largest per-step |loss difference| and relative gradient-norm difference against the reference run."""
    if not reference or not curve:
        return {}
    ref = {r["step"]: r for r in reference}
    pairs = [(ref[r["step"]], r) for r in curve if r["step"] in ref]
    if not pairs:
        return {}
    loss = [abs(a["loss"] - b["loss"]) for a, b in pairs]
    grad = [abs(a["grad_norm"] - b["grad_norm"]) / max(abs(a["grad_norm"]), 1e-12) for a, b in pairs if "grad_norm" in a and "grad_norm" in b]
    return {
        "max_abs_loss_diff": max(loss), "step1_abs_loss_diff": loss[0],
        "max_rel_grad_norm_diff": max(grad) if grad else None, "steps_compared": len(pairs),
    }  # fmt: skip


if __name__ == "__main__":
    main()
