"""The GPU path (flex_attention, bf16): packed masks stay block-diagonal, and a LoRA recipe trains.

Run on a CUDA machine: ``pytest tests/train/test_train_gpu.py``. The tokenizer comes from
``MEDSWALLOW_TOKENIZER_DIR`` (a folder with the o200k_harmony tokenizer.json) or is built offline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

SMALL = {
    "hidden_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "intermediate_size": 256,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "sliding_window": 128,
    "layer_types": ["sliding_attention", "full_attention"],
}


def small_model(attention: str, vocab: int = 201088):
    from transformers import AutoModelForCausalLM, GptOssConfig

    torch.manual_seed(0)
    config = GptOssConfig(vocab_size=vocab, **SMALL)
    with torch.device("cuda"):
        return AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation=attention).eval()


@pytest.mark.parametrize("fix", [True, False])
def test_packed_logits_equal_unpacked_with_flex_attention(fix):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from medswallow.train.packing import install_packed_sequence_masks

    model = small_model("flex_attention", vocab=4096)
    if fix:
        install_packed_sequence_masks(model)
    seqs = [torch.randint(0, 4000, (n,)).tolist() for n in (300, 45, 170, 9)]
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)([{"input_ids": s} for s in seqs])
    batch = {k: v.cuda() if hasattr(v, "cuda") else v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        alone = torch.cat([model(input_ids=torch.tensor([s], device="cuda")).logits[0] for s in seqs])
        packed = model(**batch).logits[0]
    err = (packed - alone).abs().max().item()
    assert err < 1e-3 if fix else err > 1e-2


def tokenizer_dir(tmp: Path) -> Path:
    given = os.environ.get("MEDSWALLOW_TOKENIZER_DIR")
    if given:
        return Path(given)
    from medswallow.models.tokenizer import build_hf_tokenizer

    build_hf_tokenizer(tmp / "tok")
    return tmp / "tok"


def test_lora_recipe_trains_with_flex_attention_in_bf16(tmp_path):
    import shutil

    from transformers import GptOssConfig

    from medswallow.train.runner import run_recipe

    from .train_fixtures import cpt_recipe, write_corpus, write_recipe

    model_dir = tmp_path / "model"
    GptOssConfig(vocab_size=201088, eos_token_id=200002, pad_token_id=199999, **SMALL).save_pretrained(model_dir)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        src = tokenizer_dir(tmp_path) / name
        if src.is_file():
            shutil.copy(src, model_dir / name)
    corpus = write_corpus(tmp_path / "mixture", n_docs=64)
    recipe = cpt_recipe(model_dir, corpus, tmp_path / "out", max_steps=4, per_device_batch_size=4)
    recipe.update(method="lora", lora={"r": 8, "alpha": 16})
    recipe["model"]["random_init"] = True
    recipe["data"]["max_length"] = 256
    result = run_recipe(write_recipe(tmp_path / "r.yaml", recipe))
    assert result.finished
    assert (result.plan.attention, result.plan.dtype) == ("flex_attention", "bfloat16")
    summary = json.loads((tmp_path / "out" / "throughput.json").read_text())
    assert summary["device"] != "cpu" and summary["tokens_per_second"] > 0
    losses = [h["loss"] for h in result.trainer.state.log_history if "loss" in h]
    assert all(loss == loss for loss in losses)
