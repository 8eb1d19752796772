"""MXFP4 checkpoints (how gpt-oss weights are released) load dequantized to bf16 for training and merging.

The tiny model's expert weights are encoded here into the checkpoint format of the released gpt-oss weights
(``*_blocks``: two FP4 e2m1 codes per byte, 32 values per block; ``*_scales``: one e8m0 exponent per block).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medswallow.errors import UserError

from .train_fixtures import cpt_recipe, write_recipe

pytestmark = pytest.mark.slow

FP4_CODES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]


def encode_mxfp4(weight):
    """HF expert weight [experts, in, out] -> (blocks [experts, out, in/32, 16] uint8, scales [experts, out, in/32])."""
    import torch

    w = weight.float().transpose(1, 2)
    groups = w.reshape(*w.shape[:2], w.shape[2] // 32, 32)
    exponent = torch.ceil(torch.log2(groups.abs().amax(-1, keepdim=True).clamp(min=1e-30) / 6.0))
    codes = (groups / torch.exp2(exponent)).unsqueeze(-1).sub(torch.tensor(FP4_CODES)).abs().argmin(-1).to(torch.uint8)
    return codes[..., 0::2] | (codes[..., 1::2] << 4), (exponent.squeeze(-1) + 127).to(torch.uint8)


@pytest.fixture(scope="module")
def mxfp4_dir(tiny_model_dir, tmp_path_factory):
    from safetensors.torch import load_file, save_file

    out = tmp_path_factory.mktemp("mxfp4") / "tiny-mxfp4"
    shutil.copytree(tiny_model_dir, out)
    state = load_file(out / "model.safetensors")
    for key in [k for k in state if k.endswith(("mlp.experts.gate_up_proj", "mlp.experts.down_proj"))]:
        state[key + "_blocks"], state[key + "_scales"] = encode_mxfp4(state.pop(key))
    save_file(state, out / "model.safetensors")
    config = json.loads((out / "config.json").read_text())
    config["quantization_config"] = {
        "quant_method": "mxfp4",
        "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"],
    }
    (out / "config.json").write_text(json.dumps(config))
    return out


def recipe_for(model: Path, tmp_path: Path, *overrides: str):
    from medswallow.train.registry import load_recipe

    p = write_recipe(tmp_path / "r.yaml", cpt_recipe(model, tmp_path, tmp_path / "out"))
    return load_recipe(p, ["model.dtype=bfloat16", *overrides])[1]


def test_mxfp4_experts_are_dequantized_exactly(mxfp4_dir, tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    from medswallow.train.modeling import is_mxfp4, load_model, load_model_config

    recipe = recipe_for(mxfp4_dir, tmp_path)
    assert is_mxfp4(load_model_config(recipe))
    model = load_model(recipe)
    assert not hasattr(model.config, "quantization_config")  # saved folders must not claim MXFP4
    packed = load_file(mxfp4_dir / "model.safetensors")
    original = load_file(tiny_model_dir / "model.safetensors")
    for i, layer in enumerate(model.model.layers):
        for name in ("gate_up_proj", "down_proj"):
            key = f"model.layers.{i}.mlp.experts.{name}"
            got = getattr(layer.mlp.experts, name).detach()
            assert got.dtype == torch.bfloat16
            assert torch.equal(got, convert_moe_packed_tensors(packed[key + "_blocks"], packed[key + "_scales"]))
            # FP4 keeps each value within a quarter of its block's largest magnitude
            assert (got.float() - original[key].float()).abs().max() <= original[key].float().abs().max() / 4


def test_mxfp4_without_dequantize_is_refused(mxfp4_dir, tmp_path):
    from medswallow.train.modeling import load_model

    with pytest.raises(UserError, match="MXFP4 checkpoint"):
        load_model(recipe_for(mxfp4_dir, tmp_path, "model.dequantize_mxfp4=false"))


def test_parameter_counts_and_merge_work_from_an_mxfp4_base(mxfp4_dir, tmp_path):
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from medswallow.train.export import merge_adapter
    from medswallow.train.modeling import count_parameters, load_model
    from medswallow.train.peft_targets import lora_config

    # float32 throughout: FP4 values times powers of two dequantize exactly in any float dtype, so the
    # comparison below measures the merge, not bf16 rounding.
    recipe = recipe_for(mxfp4_dir, tmp_path, "method=lora", "model.dtype=float32")
    total, trainable = count_parameters(recipe)
    assert 0 < trainable < total
    model = load_model(recipe).eval()
    torch.manual_seed(0)
    peft_model = get_peft_model(model, lora_config(recipe.lora, model.config))
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)  # a non-zero update, as after training
    peft_model.save_pretrained(tmp_path / "adapter")
    merged_dir = merge_adapter(str(mxfp4_dir), tmp_path / "adapter", tmp_path / "merged", dtype="float32")
    assert "quantization_config" not in json.loads((merged_dir / "config.json").read_text())
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    plain = load_model(recipe).eval()
    ids = torch.randint(0, 199_000, (1, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got, before = (m(input_ids=ids).logits for m in (peft_model, merged, plain))
    assert (got - expected).abs().max().item() < 1e-3
    assert (got - before).abs().max().item() > 1e-2  # the merged update is there
