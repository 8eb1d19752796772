"""The ``performance:`` section of a training recipe reaches the model and the trainer."""

from __future__ import annotations

import json

import pytest

from medswallow.train.registry import load_recipe

from ..conftest import run_cli
from .train_fixtures import sft_recipe, write_chat, write_recipe


def test_recipes_default_to_auto_which_changes_nothing_on_cpu(tiny_model_dir, tmp_path):
    from medswallow.train.perf.apply import settle_auto

    chat = write_chat(tmp_path / "chat.jsonl", n=2, bad=False)
    _, recipe = load_recipe(write_recipe(tmp_path / "sft.yaml", sft_recipe(tiny_model_dir, chat, tmp_path / "out")))
    assert recipe.performance.experts == "auto" and recipe.performance.loss == "keep"
    settled = settle_auto(recipe.performance)
    assert (settled.attention, settled.experts, settled.checkpointing, settled.compile) == ("keep", "keep", "keep", False)


def test_unknown_lever_is_a_recipe_error(tiny_model_dir, tmp_path, cli):
    chat = write_chat(tmp_path / "chat.jsonl", n=2, bad=False)
    recipe = sft_recipe(tiny_model_dir, chat, tmp_path / "out")
    recipe["performance"] = {"experts": "groupd"}
    res = cli("train", str(write_recipe(tmp_path / "sft.yaml", recipe)), "--dry-run")
    assert res.returncode == 2
    assert "performance.experts" in res.stderr and "grouped" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_sft_lora_trains_with_grouped_experts_and_selective_checkpointing(tiny_model_dir, tmp_path):
    chat = write_chat(tmp_path / "chat.jsonl", n=4, bad=False)
    recipe = sft_recipe(tiny_model_dir, chat, tmp_path / "out")
    recipe["performance"] = {"experts": "grouped", "checkpointing": "selective"}
    res = run_cli("train", str(write_recipe(tmp_path / "sft.yaml", recipe)))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "training finished" in res.stderr
    assert json.loads((tmp_path / "out" / "throughput.json").read_text())["tokens"] > 0
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()
