from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_tiny_model_loads_and_generates(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    assert cfg["model_type"] == "gpt_oss"
    assert cfg["vocab_size"] == 201088
    assert set(cfg["layer_types"]) == {"sliding_attention", "full_attention"}
    gen = json.loads((tiny_model_dir / "generation_config.json").read_text())
    assert (gen["temperature"], gen["top_p"], gen["top_k"]) == (0.6, 0.95, 20)

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="eager")
    batch = tok.apply_chat_template(
        [{"role": "user", "content": "頭痛があります"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    torch.manual_seed(0)
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == batch["input_ids"].shape[1] + 4


def test_tiny_model_cli_refuses_foreign_dir(tmp_path, cli):
    (tmp_path / "something.txt").write_text("x")
    res = cli("tiny-model", str(tmp_path))
    assert res.returncode == 2
    assert "not a tiny model" in res.stderr
    assert "Traceback" not in res.stderr
