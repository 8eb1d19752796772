"""The plan: the memory model against measured H100 numbers, and the refusal of runs that do not fit."""

from __future__ import annotations

import json

import pytest

from medswallow.train.plan import GIB, estimate_memory

from .train_fixtures import cpt_recipe, write_corpus, write_recipe


def gpt_oss_config(layers: int, experts: int):
    from transformers import GptOssConfig

    return GptOssConfig(
        vocab_size=201088,
        hidden_size=2880,
        num_hidden_layers=layers,
        num_local_experts=experts,
        num_experts_per_tok=4,
        num_attention_heads=64,
        num_key_value_heads=8,
        head_dim=64,
        intermediate_size=2880,
        sliding_window=128,
        layer_types=["sliding_attention", "full_attention"] * (layers // 2),
    )


def counts(config, lora: dict | None):
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from medswallow.train.peft_targets import lora_config
    from medswallow.train.recipe import LoraSection

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    total = sum(p.numel() for p in model.parameters())
    if lora is None:
        return total, total
    peft_model = get_peft_model(model, lora_config(LoraSection(**lora), config))
    return total, sum(p.numel() for p in peft_model.parameters() if p.requires_grad)


TRL_RECIPE_LORA = {"r": 8, "alpha": 16, "targets": ["all-linear", "experts"], "expert_layers": [7, 15, 23]}


@pytest.mark.parametrize(("attention", "measured_gib"), [("eager", 48.8), ("flex_attention", 44.6)])
def test_memory_estimate_matches_trls_gpt_oss_20b_recipe_on_h100(attention, measured_gib):
    config = gpt_oss_config(24, 32)
    total, trainable = counts(config, TRL_RECIPE_LORA)
    assert total == pytest.approx(20.9e9, rel=0.01)
    est = estimate_memory(
        config, total, trainable, method="lora", weight_bytes=2, batch=4, seq=2048,
        attention=attention, checkpointing=True, packed_flat=False, shard=1,
    )  # fmt: skip
    assert est.total / GIB == pytest.approx(measured_gib, rel=0.10)


def test_120b_full_fine_tuning_needs_more_than_one_8_gpu_node_but_lora_fits():
    config = gpt_oss_config(36, 128)
    kw = {"weight_bytes": 2, "batch": 1, "seq": 4096, "attention": "flex_attention", "checkpointing": True, "packed_flat": True}
    full_counts = counts(config, None)
    assert full_counts[0] == pytest.approx(116.8e9, rel=0.01)
    full = estimate_memory(config, *full_counts, method="full", shard=8, **kw)
    lora = estimate_memory(config, *counts(config, {"r": 32, "alpha": 64}), method="lora", shard=8, **kw)
    assert full.total / GIB > 80 > lora.total / GIB
    many = estimate_memory(config, *full_counts, method="full", shard=64, **kw)
    assert many.total / GIB < 80


def test_dry_run_prints_the_plan_and_trains_nothing(tmp_path, tiny_model_dir, cli):
    corpus = write_corpus(tmp_path / "mixture", n_docs=20)
    p = write_recipe(tmp_path / "r.yaml", cpt_recipe(tiny_model_dir, corpus, tmp_path / "out"))
    res = cli("train", str(p), "--dry-run")
    assert res.returncode == 0, res.stderr
    for part in ("training data", "optimizer steps", "memory per device", "dry run"):
        assert part in res.stderr
    assert not (tmp_path / "out" / "final").exists() and not (tmp_path / "out" / "plan.json").exists()


def test_a_model_that_does_not_fit_is_refused_before_loading(tmp_path, tiny_model_dir, cli):
    corpus = write_corpus(tmp_path / "mixture", n_docs=10)
    p = write_recipe(tmp_path / "r.yaml", cpt_recipe(tiny_model_dir, corpus, tmp_path / "out"))
    res = cli("train", str(p), "--set", "plan.device_memory_gib=0.5")
    assert res.returncode == 2
    assert "does not fit" in res.stderr and "method: lora" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out" / "checkpoint-1").exists()


def test_plan_json_records_what_was_run(tmp_path, tiny_model_dir):
    from medswallow.train.plan import write_plan
    from medswallow.train.registry import load_recipe
    from medswallow.train.runner import plan_run

    corpus = write_corpus(tmp_path / "mixture", n_docs=20)
    module, recipe = load_recipe(write_recipe(tmp_path / "r.yaml", cpt_recipe(tiny_model_dir, corpus, tmp_path / "out")))
    plan, _tok, data = plan_run(module, recipe)
    saved = json.loads(write_plan(plan, tmp_path / "out").read_text())
    assert saved["tokens"] == data.tokens and saved["steps"] == 3 and saved["fits"] is True
    assert saved["sequences"] == -(-data.tokens // 64)
    assert saved["memory"]["total"] > saved["memory"]["weights"] > 0
