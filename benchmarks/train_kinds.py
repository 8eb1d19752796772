"""SFT (harmony, assistant-only loss) and DPO through `medswallow train` on the gpt-oss-20b architecture.

Random weights (no hub), synthetic data of known length, LoRA as in benchmarks/train_lora_20b.yaml, no
performance flags (`performance: auto`). Each kind runs in its own process; the table gives tokens/s (tokens
of the rows that go through the model per second of optimizer step, first step left out), the first step
(compile) time, peak allocated GPU memory and the plan's estimate next to it.

GPU:
    python benchmarks/train_kinds.py --out out/kinds --tokenizer-dir TOK
CPU smoke run (tiny architecture):
    python benchmarks/train_kinds.py --arch tiny --steps 2 --batch 1 --accum 2 --out /tmp/kinds
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from train_vs_trl import WORDS, write_model_dir  # noqa: E402

TAXONOMY_VERSION = "1.0.0"  # safety/taxonomy.yaml


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def write_chat(path: Path, rows: int, words: int, seed: int) -> Path:
    """Conversations of one user turn and one assistant turn (analysis + final), about ``words`` tokens each side."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(rows):
            messages = [
                {"role": "user", "content": text(rng, words // 2)},
                {"role": "assistant", "thinking": text(rng, words // 4), "content": text(rng, words // 4)},
            ]
            f.write(json.dumps({"id": f"c{i}", "messages": messages}) + "\n")
    return path


def write_pairs(folder: Path, rows: int, words: int, seed: int) -> Path:
    """A review export (dpo.jsonl) of ``rows`` preference pairs: prompt and each answer about ``words`` tokens."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "dpo.jsonl").open("w", encoding="utf-8") as f:
        for i in range(rows):
            row = {
                "id": i,
                "prompt": [{"role": "user", "content": text(rng, words)}],
                "chosen": [{"role": "assistant", "content": text(rng, words)}],
                "rejected": [{"role": "assistant", "content": text(rng, words)}],
                "label_source": "unanimous",
                "taxonomy_version": TAXONOMY_VERSION,
                "severity": "severe",
                "categories": ["wrong_dose"],
            }
            f.write(json.dumps(row) + "\n")
    return folder


def recipe(kind: str, args: argparse.Namespace, model_dir: Path, data: Path, out: Path) -> dict:
    lora = {"r": 8, "alpha": 16, "targets": ["all-linear", "experts"], "expert_layers": [7, 15, 23]}
    if args.arch != "20b":
        lora["expert_layers"] = [0]
    train = {
        "output_dir": str(out), "max_steps": args.steps, "per_device_batch_size": args.batch,
        "gradient_accumulation_steps": args.accum, "learning_rate": 1e-4, "logging_steps": 1,
        "save_steps": 100000, "report_to": [], "resume": "never", "seed": args.seed,
    }  # fmt: skip
    base = {"method": "lora", "model": {"name_or_path": str(model_dir), "random_init": True}, "lora": lora,
            "train": train, "export": {"merge": False}}  # fmt: skip
    if kind == "sft":
        return base | {"kind": "sft", "data": {"train": [{"path": str(data)}], "max_length": args.seq,
                                               "assistant_only_loss": True, "too_long": "truncate"}}  # fmt: skip
    return base | {"kind": "dpo", "data": {"export": str(data), "max_length": args.seq, "min_pairs": 1,
                                           "eval_fraction": 0.0, "filters": {"min_severity": None}}}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--arch", choices=["20b", "tiny"], default="20b")
    p.add_argument("--tokenizer-dir", default=None, help="folder with the o200k_harmony tokenizer (default: build)")
    p.add_argument("--kinds", default="sft,dpo")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--batch", type=int, default=4, help="sequences (SFT) or pairs (DPO) per micro-batch")
    p.add_argument("--accum", type=int, default=4)
    p.add_argument("--words", type=int, default=1800, help="SFT: tokens per conversation; DPO: 3 x words/3")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import yaml

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tok = Path(args.tokenizer_dir) if args.tokenizer_dir else out / "tokenizer"
    if not args.tokenizer_dir:
        from medswallow.models.tokenizer import build_hf_tokenizer

        build_hf_tokenizer(tok)
    model_dir = write_model_dir(out / f"model-{args.arch}", args.arch, tok)
    rows = args.steps * args.batch * args.accum + 4
    data = {
        "sft": write_chat(out / "chat.jsonl", rows, args.words, args.seed),
        "dpo": write_pairs(out / "pairs", rows, args.words // 3, args.seed),
    }
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    results = {}
    for kind in args.kinds.split(","):
        run_out = out / kind
        path = out / f"{kind}.yaml"
        path.write_text(yaml.safe_dump(recipe(kind, args, model_dir, data[kind], run_out)))
        cmd = [sys.executable, "-m", "medswallow.cli", "train", str(path)]
        print(f"== {kind}: medswallow train {path}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(cmd, env=env).returncode
        r = json.loads((run_out / "throughput.json").read_text()) if (run_out / "throughput.json").is_file() else {}
        plan = json.loads((run_out / "plan.json").read_text()) if (run_out / "plan.json").is_file() else {}
        # Tokens per optimizer step from the plan's data (mean row length x rows per step; DPO: both sides).
        per_row = plan.get("tokens", 0) / max(1, plan.get("examples", 1))
        sides = 2 if kind == "dpo" else 1
        step_tokens = per_row * plan.get("sequences_per_step", 0) * sides
        sps = r.get("seconds_per_step")
        r |= {
            "exit": code, "wall_seconds": round(time.perf_counter() - started, 1),
            "tokens_per_step": round(step_tokens), "tokens_per_second_from_steps": round(step_tokens / sps, 1) if sps else None,
            "plan": {k: plan.get(k) for k in ("memory", "micro_batch", "accumulation", "performance", "performance_reason")},
        }  # fmt: skip
        results[kind] = r
        print(f"== {kind}: { {k: v for k, v in r.items() if k != 'curve'} }", flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'kind':<6} {'tokens/s':>9} {'s/step':>7} {'1st step s':>10} {'peak GiB':>9} {'plan GiB':>9} {'micro':>6}")
    for kind, r in results.items():
        print(
            f"{kind:<6} {r.get('tokens_per_second_from_steps') or 0:>9.0f} {r.get('seconds_per_step') or 0:>7.2f} "
            f"{r.get('first_step_seconds') or 0:>10.1f} {r.get('peak_memory_gib', 0):>9.1f} "
            f"{(r['plan'].get('memory') or {}).get('total', 0):>9.1f} {r['plan'].get('micro_batch')!s:>6}"
        )


if __name__ == "__main__":
    main()
