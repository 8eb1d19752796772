"""The tiny gpt-oss through every recipe kind on CPU: CPT, SFT, LoRA, full, resume, merge, serve with vLLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medswallow.errors import UserError

from ..conftest import free_port, run_cli
from .train_fixtures import cpt_recipe, sft_recipe, write_chat, write_corpus, write_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sft_lora_run(tiny_model_dir, tmp_path_factory):
    """SFT with LoRA (attention + experts) through the CLI, exported as a merged HF folder."""
    root = tmp_path_factory.mktemp("sft-lora")
    chat = write_chat(root / "chat.jsonl", n=8)
    general = write_chat(root / "general.jsonl", n=4, bad=False)
    recipe = sft_recipe(tiny_model_dir, chat, root / "out")
    recipe["data"]["retention"] = {"sources": [{"path": str(general)}], "ratio": 0.2}
    res = run_cli("train", str(write_recipe(root / "sft.yaml", recipe)))
    assert res.returncode == 0, res.stderr[-3000:]
    return root / "out", res.stderr


def test_sft_lora_trains_on_assistant_turns_and_exports_adapter_and_merged_model(sft_lora_run):
    out, log = sft_lora_run
    assert "training data" in log and "training finished" in log and "servable HF folder" in log
    assert (out / "adapter" / "adapter_config.json").is_file()
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert set(adapter["target_parameters"]) == {"mlp.experts.gate_up_proj", "mlp.experts.down_proj"}
    merged = out / "merged"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "generation_config.json"):
        assert (merged / name).is_file(), name
    assert json.loads((out / "throughput.json").read_text())["tokens"] > 0
    assert list((out / "runs").rglob("events.out.tfevents.*")), "TensorBoard logs are written by default"
    assert len((out / "rejected.jsonl").read_text().splitlines()) == 3


def test_merged_model_equals_base_plus_adapter(sft_lora_run, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out, _ = sft_lora_run
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation="eager")
    with_adapter = PeftModel.from_pretrained(base, str(out / "adapter")).eval()
    merged = AutoModelForCausalLM.from_pretrained(out / "merged", dtype=torch.float32, attn_implementation="eager").eval()
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.randint(0, 199_000, (1, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got, before = (m(input_ids=ids).logits for m in (with_adapter, merged, plain))
    assert (got - expected).abs().max().item() < 1e-4
    assert (got - before).abs().max().item() > 1e-3  # the adapter changed something


def test_merge_lora_command_rebuilds_the_merged_folder(sft_lora_run, tmp_path):
    from safetensors.torch import load_file

    out, _ = sft_lora_run
    res = run_cli("merge-lora", str(out / "adapter"), "-o", str(tmp_path / "merged"), "--dtype", "float32")
    assert res.returncode == 0, res.stderr[-2000:]
    again, first = load_file(tmp_path / "merged" / "model.safetensors"), load_file(out / "merged" / "model.safetensors")
    assert set(again) == set(first) and all(again[k].equal(first[k]) for k in first)
    bad = run_cli("merge-lora", str(tmp_path), "-o", str(tmp_path / "x"))
    assert bad.returncode == 2 and "not a LoRA adapter folder" in bad.stderr


@pytest.mark.vllm
def test_merged_model_answers_through_a_vllm_server(sft_lora_run, tmp_path):
    import urllib.request

    from medswallow.inference.server import VLLMServer

    out, _ = sft_lora_run
    server = VLLMServer(
        model=str(out / "merged"),
        served_model_name="tiny-merged",
        port=free_port(),
        max_model_len=1024,
        extra_env={
            "VLLM_CACHE_ROOT": str(tmp_path / "vllm-cache"),
            "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"),
            "HF_HOME": str(tmp_path / "hf"),
            "VLLM_CPU_KVCACHE_SPACE": "1",
        },
        log_path=tmp_path / "server.log",
    )
    body = {
        "model": "tiny-merged",
        "messages": [{"role": "user", "content": "高血圧の第一選択薬は？"}],
        "max_tokens": 8,
        "temperature": 0,
    }
    with server:
        req = urllib.request.Request(
            f"{server.base_url}/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            answer = json.loads(resp.read())
    choice = answer["choices"][0]
    assert answer["model"] == "tiny-merged"
    assert choice["finish_reason"] in ("stop", "length")
    assert answer["usage"]["completion_tokens"] > 0


def test_cpt_full_fine_tuning_through_the_cli(tiny_model_dir, tmp_path, cli):
    import torch
    from safetensors.torch import load_file

    corpus = write_corpus(tmp_path / "mixture", n_docs=30)
    res = cli("train", str(write_recipe(tmp_path / "cpt.yaml", cpt_recipe(tiny_model_dir, corpus, tmp_path / "out"))))
    assert res.returncode == 0, res.stderr[-3000:]
    out = tmp_path / "out"
    assert {p.name for p in out.glob("checkpoint-*")} == {"checkpoint-2", "checkpoint-3"}
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and all("loss" in h for h in state["log_history"][:3])
    trained, base = load_file(out / "final" / "model.safetensors"), load_file(tiny_model_dir / "model.safetensors")
    assert set(trained) == set(base)
    assert any(not torch.equal(trained[k].float(), base[k].float()) for k in base)
    assert json.loads((out / "plan.json").read_text())["method"] == "full"


def test_exact_resume_gives_the_same_weights_as_a_straight_run(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    from medswallow.train.runner import run_recipe

    corpus = write_corpus(tmp_path / "mixture", n_docs=30)
    recipe = write_recipe(tmp_path / "cpt.yaml", cpt_recipe(tiny_model_dir, corpus, tmp_path / "unused"))
    common = ["train.max_steps=4", "train.save_steps=2", "train.learning_rate=1e-3"]
    straight = run_recipe(recipe, [*common, f"train.output_dir={tmp_path / 'a'}"])
    first = run_recipe(recipe, [*common, f"train.output_dir={tmp_path / 'b'}", "train.stop_after_steps=2"])
    assert not first.finished and first.model_dir is None and (tmp_path / "b" / "checkpoint-2").is_dir()
    resumed = run_recipe(recipe, [*common, f"train.output_dir={tmp_path / 'b'}"])  # resume: auto
    assert resumed.finished
    a, b = load_file(tmp_path / "a" / "final" / "model.safetensors"), load_file(tmp_path / "b" / "final" / "model.safetensors")
    # Same RNG, data order, optimizer and scheduler state: equal up to float32 summation order of CPU threads.
    assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) < 1e-5
    losses = [[h["loss"] for h in r.trainer.state.log_history if "loss" in h] for r in (straight, resumed)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5) and len(losses[0]) == 4


def test_sft_full_fine_tuning_with_packed_conversations(tiny_model_dir, tmp_path):
    from medswallow.train.runner import run_recipe

    recipe = sft_recipe(tiny_model_dir, write_chat(tmp_path / "chat.jsonl", n=8, bad=False), tmp_path / "out")
    recipe.update(method="full")
    recipe["data"].update(packing="bfd", max_length=512)
    result = run_recipe(write_recipe(tmp_path / "sft.yaml", recipe))
    assert result.finished and result.model_dir == tmp_path / "out" / "final"
    assert result.plan.sequences < 8  # conversations share rows
    losses = [h["loss"] for h in result.trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(loss == loss for loss in losses)


@pytest.mark.parametrize(
    ("suite_text", "expected"),
    [
        (None, "missing-suite.yaml not found"),
        ("tasks: []\n", "tasks"),  # the eval module's own validation, before any training
        ("tasks:\n  - {task: igakuqa, data: x}\nbakend: {}\n", "did you mean 'backend'"),
    ],
)
def test_eval_hook_is_checked_before_training(tiny_model_dir, tmp_path, suite_text, expected):
    from medswallow.train.runner import run_recipe

    recipe = cpt_recipe(tiny_model_dir, write_corpus(tmp_path / "mixture", n_docs=10), tmp_path / "out")
    suite = tmp_path / ("missing-suite.yaml" if suite_text is None else "suite.yaml")
    if suite_text is not None:
        suite.write_text(suite_text)
    recipe["eval_suite"] = {"suite": str(suite)}
    with pytest.raises(UserError, match=expected):
        run_recipe(write_recipe(tmp_path / "r.yaml", recipe))
    assert not (tmp_path / "out" / "checkpoint-1").exists()


@pytest.mark.vllm
def test_eval_hook_serves_the_merged_model_and_runs_the_suite(sft_lora_run, tiny_model_dir, tmp_path, monkeypatch):
    from medswallow.train.export import run_eval_hook
    from medswallow.train.registry import load_recipe

    for key, sub in (("VLLM_CACHE_ROOT", "vllm-cache"), ("TORCHINDUCTOR_CACHE_DIR", "inductor"), ("HF_HOME", "hf")):
        monkeypatch.setenv(key, str(tmp_path / sub))
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    out, _ = sft_lora_run
    suite = Path(__file__).resolve().parents[2] / "pipelines" / "eval" / "ci_fixtures.yaml"
    recipe = sft_recipe(tiny_model_dir, out / "unused.jsonl", out)
    recipe["eval_suite"] = {"suite": str(suite), "out": str(tmp_path / "eval"), "args": ["--limit", "1", "--set", "repeats=1"]}
    _, loaded = load_recipe(write_recipe(tmp_path / "r.yaml", recipe))
    eval_dir = run_eval_hook(loaded, out / "merged")
    results = json.loads((eval_dir / "results.json").read_text())
    assert results["model"] == "medswallow-trained"
    assert (eval_dir / "report.md").is_file() and list((eval_dir / "samples").glob("*.jsonl"))
