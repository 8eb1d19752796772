"""The distributed path on CPU: two processes (torchrun, gloo) train one model with data parallelism."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ..conftest import REPO, free_port
from .train_fixtures import cpt_recipe, write_corpus, write_recipe

pytestmark = pytest.mark.slow


def test_two_processes_train_together_and_export_once(tiny_model_dir, tmp_path):
    corpus = write_corpus(tmp_path / "mixture", n_docs=40)
    recipe = cpt_recipe(tiny_model_dir, corpus, tmp_path / "out", max_steps=2, save_steps=2)
    recipe["method"] = "lora"
    recipe["lora"] = {"r": 4, "alpha": 8}
    path = write_recipe(tmp_path / "cpt.yaml", recipe)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
        "-m", "medswallow.cli", "train", str(path),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    out = tmp_path / "out"
    throughput = json.loads((out / "throughput.json").read_text())
    assert throughput["world_size"] == 2
    plan = json.loads((out / "plan.json").read_text())
    assert plan["devices"] == 2 and plan["sequences_per_step"] == 4  # 2 processes x batch 2
    assert res.stderr.count("sequences per optimizer step") == 1  # the plan is printed by rank 0 only
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    # TRL counts the tokens of both processes: a step sees 2 x 2 packed rows of at most 64 tokens.
    tokens = [h["num_tokens"] for h in state["log_history"] if "num_tokens" in h]
    assert 2 * 64 < tokens[0] <= 4 * 64
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert (out / "merged" / "model.safetensors").is_file()
