"""``performance: auto``: settled once per run from the memory plan and the device; the CLI and the benchmark
harness apply the same levers through the same code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from medswallow.errors import UserError
from medswallow.train.plan import GIB, resolve_performance

from .test_train_plan import TRL_RECIPE_LORA, counts, gpt_oss_config
from .train_fixtures import cpt_recipe, write_corpus, write_recipe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def arch_20b():
    config = gpt_oss_config(24, 32)
    return config, counts(config, TRL_RECIPE_LORA)


def lora_20b_recipe(tmp_path: Path, extra: tuple[str, ...] = (), **performance):
    """The benchmark recipe (16 sequences of 2048 per step) as ``medswallow train`` loads it."""
    from medswallow.train.registry import load_recipe

    sets = [f"performance.{k}={v}" for k, v in performance.items()]
    path = ROOT / "benchmarks" / "train_lora_20b.yaml"
    _, recipe = load_recipe(path, [f"train.output_dir={tmp_path}", *sets, *extra])
    return recipe


def choose(recipe, arch, device_type: str, memory_gib: float, seq: int = 2048):
    config, param_counts = arch
    return resolve_performance(
        recipe, config, param_counts, device_type=device_type, attention="flex_attention", weight_bytes=2,
        seq=seq, packed_flat=True, shard=1, memory_gib=memory_gib,
    )  # fmt: skip


def test_auto_is_the_default_and_the_shorthand(tmp_path):
    recipe = lora_20b_recipe(tmp_path)
    assert not recipe.performance.resolved
    from medswallow.train.perf import PerfConfig

    assert PerfConfig.model_validate("auto") == PerfConfig()


def test_on_cpu_auto_keeps_todays_behaviour(tmp_path, arch_20b):
    choice = choose(lora_20b_recipe(tmp_path), arch_20b, "cpu", 64.0)
    p = choice.performance
    assert (p.attention, p.experts, p.checkpointing, p.compile) == ("keep", "keep", "keep", False)
    assert (choice.micro_batch, choice.accumulation) == (4, 4)  # the recipe's own
    assert p.resolved


@pytest.mark.parametrize(
    ("memory_gib", "policy", "micro"),
    [
        (139.8, "none", 8),  # one H200: 8 x 2 without checkpointing (measured 84.4 GiB), 16 x 1 does not fit
        (80.0, "none", 4),  # an H100's budget: 4 x 4 without checkpointing
        (60.0, "none", 2),  # compiled layers lose little at small micro-batches: 2 x 2 beats recomputing
        (45.0, "full", 2),
    ],
)
def test_on_gpu_auto_picks_the_fastest_fit_and_keeps_the_global_batch(tmp_path, arch_20b, memory_gib, policy, micro):
    recipe = lora_20b_recipe(tmp_path)
    choice = choose(recipe, arch_20b, "cuda", memory_gib)
    p = choice.performance
    assert (p.attention, p.experts, p.compile) == ("flex", "grouped", True)
    assert (p.checkpointing, p.checkpoint_every, choice.micro_batch) == (policy, 1, micro)
    assert choice.micro_batch * choice.accumulation == 16
    assert choice.memory.total <= memory_gib * recipe.plan.headroom * GIB
    assert f"{choice.memory.total / GIB:.1f} GiB" in choice.reason


# Peaks measured on one H200 (max_memory_allocated) by `medswallow train benchmarks/train_lora_20b.yaml` with
# no flags, 2026-12-02 (benchmarks/RESULTS.md, training section): (device memory, sequence length, sequences
# per step, the policy and micro-batch auto chose there, measured GiB).
MEASURED_H200 = [
    (139.8, 2048, 16, "none", 8, 85.44),  # 84.42 in the first run
    (80.0, 2048, 16, "none", 4, 62.41),  # plan.device_memory_gib: 80
    # MoE blocks of every layer checkpointed (auto's only partial choice then); none x 1 would need ~130 GiB
    (139.8, 32768, 1, "selective", 1, 84.34),
]


def long_context_recipe(tmp_path: Path, seq: int, per_step: int, **performance):
    extra = (f"data.max_length={seq}", f"train.per_device_batch_size={per_step}", "train.gradient_accumulation_steps=1")
    return lora_20b_recipe(tmp_path, extra, **performance)


@pytest.mark.parametrize(("memory_gib", "seq", "per_step", "policy", "micro", "measured"), MEASURED_H200)
def test_auto_chooses_what_ran_and_its_estimate_is_within_10_percent_of_the_peak(
    tmp_path, arch_20b, memory_gib, seq, per_step, policy, micro, measured
):
    """What auto chose on the GPU, it chooses here again, and its estimate is within 10% of the measured peak."""
    # The 32K run checkpointed every layer: auto chose among policies on all layers then.
    recipe = long_context_recipe(tmp_path, seq, per_step, checkpoint_every=1)
    choice = choose(recipe, arch_20b, "cuda", memory_gib, seq=seq)
    assert (choice.performance.checkpointing, choice.micro_batch) == (policy, micro)
    assert choice.memory.total / GIB == pytest.approx(measured, rel=0.10)
    # It never refuses what fitted: the measured peak itself is within the usable memory.
    assert measured <= memory_gib * recipe.plan.headroom


def test_at_32k_auto_checkpoints_only_the_layers_it_must(tmp_path, arch_20b):
    """1 x 32,768 on one H200: no checkpointing does not fit, so auto recomputes the MoE blocks of every 4th
    layer (the least recomputation that fits) rather than of all 24."""
    recipe = long_context_recipe(tmp_path, 32768, 1)
    choice = choose(recipe, arch_20b, "cuda", 139.8, seq=32768)
    p = choice.performance
    assert (p.checkpointing, p.checkpoint_every, choice.micro_batch) == ("selective", 4, 1)
    assert choice.memory.total <= 139.8 * recipe.plan.headroom * GIB
    assert "none x 1 would be faster but needs 130.0 GiB" in choice.reason
    every_layer = choose(long_context_recipe(tmp_path, 32768, 1, checkpoint_every=1), arch_20b, "cuda", 139.8, seq=32768)
    assert every_layer.memory.total < choice.memory.total  # every 4th keeps more, and still fits
    from medswallow.train.perf.apply import describe

    assert describe(p)["checkpointing"] == "selective (mlp), every 4 layers"
    # Within an H100's 80 GB the partial policies do not fit: whole layers, all of them.
    small = choose(long_context_recipe(tmp_path, 32768, 1), arch_20b, "cuda", 80.0, seq=32768).performance
    assert (small.checkpointing, small.checkpoint_every) == ("full", 1)


def test_a_set_policy_checkpoints_every_layer_unless_told(tmp_path, arch_20b):
    choice = choose(long_context_recipe(tmp_path, 32768, 1, checkpointing="selective"), arch_20b, "cuda", 139.8, seq=32768)
    assert (choice.performance.checkpoint_every, choice.reason) == (1, "as the recipe sets")
    recipe = long_context_recipe(tmp_path, 32768, 1, checkpointing="selective", checkpoint_every=2)
    assert choose(recipe, arch_20b, "cuda", 139.8, seq=32768).performance.checkpoint_every == 2


def test_every_choice_can_be_overridden(tmp_path, arch_20b):
    recipe = lora_20b_recipe(tmp_path, attention="keep", experts="loop", checkpointing="selective", micro_batch=2, compile="false")
    choice = choose(recipe, arch_20b, "cuda", 139.8)
    p = choice.performance
    assert (p.attention, p.experts, p.checkpointing, p.compile) == ("keep", "loop", "selective", False)
    assert (choice.micro_batch, choice.accumulation) == (2, 8)
    assert choice.reason == "as the recipe sets"


def test_a_micro_batch_that_breaks_the_global_batch_is_refused(tmp_path, arch_20b):
    with pytest.raises(UserError, match="performance.micro_batch: 3 does not divide the 16"):
        choose(lora_20b_recipe(tmp_path, micro_batch=3), arch_20b, "cuda", 139.8)


def test_grpo_keeps_its_attention_for_generation(tmp_path, arch_20b):
    recipe = lora_20b_recipe(tmp_path)
    object.__setattr__(recipe, "kind", "grpo")
    choice = choose(recipe, arch_20b, "cuda", 139.8)
    assert choice.performance.attention == "keep" and choice.performance.compile is False


def test_the_cli_builds_the_model_with_the_levers_the_plan_chose(tmp_path, tiny_model_dir):
    """One code path: plan_run settles the levers on the recipe; load_training_model installs exactly those."""
    from medswallow.train.arguments import loop_arguments
    from medswallow.train.modeling import load_training_model
    from medswallow.train.registry import load_recipe
    from medswallow.train.runner import plan_run

    corpus = write_corpus(tmp_path / "mixture", n_docs=8)
    path = write_recipe(tmp_path / "r.yaml", cpt_recipe(tiny_model_dir, corpus, tmp_path / "out"))
    levers = ["performance.experts=grouped", "performance.checkpointing=selective", "performance.micro_batch=1"]
    module, recipe = load_recipe(path, [*levers, "train.per_device_batch_size=2"])
    plan, _tok, _data = plan_run(module, recipe)
    assert recipe.performance.resolved and recipe.performance.checkpointing == "selective"
    assert (recipe.train.per_device_batch_size, recipe.train.gradient_accumulation_steps) == (1, 2)
    assert plan.performance["checkpointing"] == "selective (mlp)" and "why these levers" not in plan.performance
    args = loop_arguments(recipe)
    assert args["gradient_checkpointing"] is False  # the levers checkpoint; the trainer must not do it again
    assert args["per_device_train_batch_size"] == 1 and args["gradient_accumulation_steps"] == 2

    model = load_training_model(recipe)
    mlps = [m for m in model.modules() if type(m).__name__ == "GptOssMLP"]
    assert mlps and all(getattr(m, "_medswallow_experts", None) == "grouped" for m in mlps)
    assert all(hasattr(m, "_medswallow_uncheckpointed_forward") for m in mlps)
    assert model._medswallow_perf == recipe.performance


def test_the_harness_runs_the_cli_with_its_levers():
    """benchmarks/train_throughput.py has no lever code of its own: it passes them to `medswallow train`."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import train_throughput
    finally:
        sys.path.pop(0)
    args = train_throughput.parse_args(["--checkpointing", "none", "--micro-batch", "8", "--no-compile"])
    assert train_throughput.lever_sets(args) == [
        "performance.checkpointing=none", "performance.micro_batch=8", "performance.compile=false",
    ]  # fmt: skip
    source = (ROOT / "benchmarks" / "train_throughput.py").read_text()
    assert "apply_perf(model, levers)" in source  # only the gradient check touches levers directly
    assert source.count("apply_perf(") == 1


def test_recipe_paths_are_settled_once_at_load(tmp_path, tiny_model_dir):
    from medswallow.train.registry import load_recipe

    corpus = write_corpus(tmp_path / "mixture", n_docs=4)
    recipe = cpt_recipe(tiny_model_dir, corpus, tmp_path / "out")
    recipe["data"]["train"][0]["path"] = "mixture"
    recipe["train"]["output_dir"] = "out"
    _, loaded = load_recipe(write_recipe(tmp_path / "r.yaml", recipe))
    assert loaded.data.train[0].path == str(tmp_path / "mixture")
    assert loaded.train.output_dir == str(tmp_path / "out")
