"""bf16 LoRA on MoE experts: PEFT's folded weights vs medswallow's factored adapters, against float32.

PEFT applies a LoRA adapter on gpt-oss experts by folding it into the expert stack, ``W + scale * A @ B``,
computed in W's dtype (``torch.baddbmm`` in bf16 for a bf16 model). Early in training the adapter's delta is
smaller than half a bf16 step of W (|W| ~ 0.02, so a step is ~8e-5), and the fold rounds most of it away:
the experts' adapters barely change the forward pass. medswallow's grouped experts keep the adapter
factored, ``x @ W + scale * (x @ A) @ B``, so the delta is never rounded into W.

This trains one small gpt-oss three ways from the same weights on the same batches (AdamW, lr 2e-4 after
one warm-up step at 0, gradient clipping 1.0, LoRA r=8 on all linear layers and the experts) and prints
each step's loss and its distance to the float32 run, which is the exact LoRA:

  float32 (PEFT)         the reference
  bf16 PEFT fold         TRL's recipe on a bf16 model
  bf16 medswallow        performance.experts: grouped

    python benchmarks/lora_expert_precision.py --out benchmarks/results/lora-expert-precision.json
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import torch


def base_model(seed: int, hidden: int) -> Any:
    from transformers import GptOssConfig, GptOssForCausalLM

    config = GptOssConfig(
        vocab_size=2048,
        hidden_size=hidden,
        intermediate_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=8,
        num_key_value_heads=2,
        head_dim=64,
        num_local_experts=8,
        num_experts_per_tok=2,
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        initializer_range=0.02,  # gpt-oss's own scale: the weights the fold rounds into
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return GptOssForCausalLM(config)


def with_lora(model: Any, seed: int, experts_only: bool) -> Any:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed + 1)  # the same A (B is zero) on every variant
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=None if experts_only else "all-linear",
        target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"],
    )
    return get_peft_model(model, config)  # adapters stay float32 on a bf16 model (PEFT's default)


def batches(seed: int, steps: int, batch: int, length: int, vocab: int) -> list[torch.Tensor]:
    """Token rows drawn from a skewed (Zipf-like) unigram distribution: something to learn in a few steps."""
    gen = torch.Generator().manual_seed(seed + 2)
    weights = 1.0 / torch.arange(1, vocab - 2, dtype=torch.float64) ** 1.1
    return [torch.multinomial(weights, batch * length, True, generator=gen).view(batch, length) + 3 for _ in range(steps)]


def train(model: Any, data: list[torch.Tensor], lr: float) -> list[float]:
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    losses = []
    for step, ids in enumerate(data):
        for group in optimizer.param_groups:
            group["lr"] = 0.0 if step == 0 else lr  # one warm-up step, as both recipes do
        optimizer.zero_grad()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def fold_loss(steps: int, lr: float, seed: int, experts: int = 4) -> list[dict[str, float]]:
    """How much of an expert adapter's delta survives PEFT's bf16 fold, at gpt-oss-20b's shapes.

    W [E, 2880, 5760] with gpt-oss's init scale (std 0.02) in bf16; A as PEFT initialises it
    (kaiming-uniform, |A| <= 1/sqrt(2880)); B after ``k`` Adam steps of size lr with a consistent sign
    (|B| = k x lr). Compared: the delta the fold adds, bf16(W + s A B) - W, against the exact s A B.
    """
    gen = torch.Generator().manual_seed(seed)
    hidden, out, rank, scale = 2880, 5760, 8, 2.0
    weight = (torch.randn(experts, hidden, out, generator=gen) * 0.02).to(torch.bfloat16)
    bound = 1.0 / hidden**0.5
    lhs = (torch.rand(experts, hidden, rank, generator=gen) * 2 - 1) * bound
    sign = torch.randint(0, 2, (experts, rank, out), generator=gen).float() * 2 - 1
    rows = []
    for k in range(1, steps + 1):
        exact = scale * torch.bmm(lhs, sign * (k * lr))
        folded = torch.baddbmm(weight, lhs.to(torch.bfloat16), (sign * (k * lr)).to(torch.bfloat16), alpha=scale)
        kept = folded.float() - weight.float()
        rows.append(
            {
                "adam_steps": k,
                "delta_rms": float(exact.pow(2).mean().sqrt()),
                "unchanged_share": float((kept == 0).float().mean()),  # weights the fold left as they were
                "relative_error": float((kept - exact).norm() / exact.norm()),
            }
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=512, help="hidden and expert width (gpt-oss-20b: 2880)")
    p.add_argument("--experts-only", action="store_true", help="LoRA on the experts alone (isolates the fold)")
    p.add_argument("--fold-steps", type=int, default=5, help="Adam steps of B for the fold measurement")
    p.add_argument("--out", help="write the curves here (JSON)")
    args = p.parse_args()

    from medswallow.train.perf import PerfConfig, apply_perf

    torch.set_num_threads(max(1, torch.get_num_threads()))
    base = base_model(args.seed, args.hidden)
    data = batches(args.seed, args.steps, args.batch, args.length, base.config.vocab_size)
    runs: dict[str, list[float]] = {}
    runs["float32 (PEFT)"] = train(with_lora(copy.deepcopy(base), args.seed, args.experts_only), data, args.lr)
    runs["bf16 PEFT fold"] = train(with_lora(copy.deepcopy(base).to(torch.bfloat16), args.seed, args.experts_only), data, args.lr)
    fast = with_lora(copy.deepcopy(base).to(torch.bfloat16), args.seed, args.experts_only)
    apply_perf(fast, PerfConfig(experts="grouped"))
    runs["bf16 medswallow"] = train(fast, data, args.lr)

    ref = runs["float32 (PEFT)"]
    print(f"{'step':>4} " + " ".join(f"{name:>16}" for name in runs) + f" {'fold - f32':>11} {'medswallow - f32':>17}")
    for i in range(args.steps):
        row = " ".join(f"{runs[name][i]:>16.5f}" for name in runs)
        print(f"{i + 1:>4} {row} {runs['bf16 PEFT fold'][i] - ref[i]:>+11.5f} {runs['bf16 medswallow'][i] - ref[i]:>+17.5f}")
    gaps = {name: max(abs(a - b) for a, b in zip(curve, ref, strict=True)) for name, curve in runs.items()}
    print("largest |loss - float32| per run: " + ", ".join(f"{k} {v:.5f}" for k, v in gaps.items()))
    fold = fold_loss(args.fold_steps, args.lr, args.seed)
    print("\nPEFT's bf16 fold at gpt-oss-20b's expert shapes (W std 0.02, r=8, alpha 16; B after k Adam steps of lr):")
    print(f"{'k':>3} {'delta rms':>10} {'weights unchanged':>18} {'|kept - exact| / |exact|':>25}")
    for row in fold:
        print(f"{row['adam_steps']:>3} {row['delta_rms']:>10.2e} {row['unchanged_share']:>18.1%} {row['relative_error']:>25.3f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        result = {"args": vars(args), "losses": runs, "max_abs_gap_to_float32": gaps, "fold": fold}
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
