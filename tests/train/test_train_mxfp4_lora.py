"""LoRA over MXFP4-kept experts (medswallow.train.mxfp4) against the path that dequantizes to bf16 up front.

The reference is transformers + PEFT on the same MXFP4 checkpoint loaded dequantized (``Mxfp4Config``), in
float32: FP4 codes times powers of two are exact in float32, so both paths see identical weights and the
comparisons measure the forward, the backward and the merge, not rounding.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medswallow.errors import UserError

from .test_train_mxfp4 import encode_mxfp4
from .train_fixtures import cpt_recipe, write_corpus, write_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mxfp4_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with its experts written as MXFP4 blocks + scales (the released gpt-oss format)."""
    from safetensors.torch import load_file, save_file

    out = tmp_path_factory.mktemp("mxfp4-lora") / "tiny-mxfp4"
    shutil.copytree(tiny_model_dir, out)
    state = load_file(out / "model.safetensors")
    for key in [k for k in state if k.endswith(("mlp.experts.gate_up_proj", "mlp.experts.down_proj"))]:
        state[key + "_blocks"], state[key + "_scales"] = encode_mxfp4(state.pop(key))
    save_file(state, out / "model.safetensors")
    config = json.loads((out / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "mxfp4"}
    (out / "config.json").write_text(json.dumps(config))
    return out


def _recipe(model: Path, tmp_path: Path, *overrides: str):
    from medswallow.train.registry import load_recipe

    corpus = write_corpus(tmp_path / "corpus", n_docs=8)
    p = write_recipe(tmp_path / "r.yaml", cpt_recipe(model, corpus, tmp_path / "out"))
    return load_recipe(p, ["model.dtype=float32", "method=lora", *overrides])[1]


# --------------------------------------------------------------------------------------------- the format


@pytest.mark.parametrize(
    "case",
    ["normal", "zeros-and-ties", "wide-range"],
)
def test_quantizer_matches_the_reference_encoding_and_dequantizes_like_transformers(case):
    import torch
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    from medswallow.train.mxfp4 import dequantize_mxfp4, quantize_mxfp4

    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 64, 96, generator=g)
    if case == "zeros-and-ties":
        w[0, :32] = 0.0  # all-zero blocks
        w[1] = torch.tensor([0.25, -0.25, 0.75, -0.75, 2.5, -5.0, 6.0, -1.25]).repeat(8 * 96).reshape(64, 96)
    elif case == "wide-range":
        w = w * torch.exp2(torch.randint(-20, 20, (3, 1, 96), generator=g).float())
    blocks, scales = quantize_mxfp4(w.to(torch.bfloat16))
    ref_blocks, ref_scales = encode_mxfp4(w.to(torch.bfloat16))
    assert torch.equal(blocks, ref_blocks) and torch.equal(scales, ref_scales)
    for dtype in (torch.bfloat16, torch.float32):
        got = dequantize_mxfp4(blocks, scales, dtype).transpose(1, 2)
        assert torch.equal(got, convert_moe_packed_tensors(blocks, scales, dtype=dtype))
    # Nearest-code rounding, no clipping: an error is at most half the widest code step (4 -> 6) times the
    # scale, and the scale is at most a third of the block's largest magnitude.
    err = (got - w.to(torch.bfloat16).float()).abs()
    block_max = w.to(torch.bfloat16).float().abs().transpose(1, 2).reshape(3, 96, 2, 32).amax(-1)
    assert (err.transpose(1, 2).reshape(3, 96, 2, 32) <= block_max.unsqueeze(-1) / 3 + 1e-30).all()


def test_bf16_and_mxfp4_checkpoints_load_to_the_same_model(tiny_model_dir, mxfp4_dir):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig

    from medswallow.train.mxfp4 import load_mxfp4_model, mxfp4_bytes

    config = AutoConfig.from_pretrained(tiny_model_dir)
    kw = {"device": torch.device("cpu"), "dtype": torch.float32, "attn_implementation": "eager"}
    from_bf16 = load_mxfp4_model(config, tiny_model_dir, **kw)
    from_mxfp4 = load_mxfp4_model(AutoConfig.from_pretrained(mxfp4_dir), mxfp4_dir, **kw)
    original = load_file(tiny_model_dir / "model.safetensors")
    buffers = dict(from_mxfp4.named_buffers())
    for name, buf in from_bf16.named_buffers():
        assert torch.equal(buf, buffers[name]), name  # quantized on load == the MXFP4 file
    for name, p in from_bf16.named_parameters():
        if name.endswith(("experts.gate_up_proj", "experts.down_proj")):
            assert p.stride() == (0, 0, 0) and not p.requires_grad  # placeholders: shape only
        else:
            assert torch.equal(p, original[name].float()), name
    layers, e, h, i = (
        config.num_hidden_layers,
        config.num_local_experts,
        config.hidden_size,
        config.intermediate_size,
    )
    assert mxfp4_bytes(from_bf16) == layers * e * (h * 2 * i + i * h) * 17 // 32  # 4.25 bits a value


def test_a_checkpoint_that_does_not_match_its_config_is_refused(tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoConfig

    from medswallow.train.mxfp4 import load_mxfp4_model

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    state = load_file(broken / "model.safetensors")
    state.pop("model.layers.1.mlp.experts.down_proj")
    save_file(state, broken / "model.safetensors")
    with pytest.raises(UserError, match="expert weights found"):
        load_mxfp4_model(
            AutoConfig.from_pretrained(broken),
            broken,
            device=torch.device("cpu"),
            dtype=torch.float32,
            attn_implementation="eager",
        )


# ------------------------------------------------------------------------------------- forward and backward


def _peft(model, recipe, seed: int = 0):
    import torch
    from peft import get_peft_model

    from medswallow.train.peft_targets import lora_config

    peft_model = get_peft_model(model, lora_config(recipe.lora, model.config))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(peft_model.named_parameters()):
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)  # non-zero A and B: the update is there
    return peft_model


def _loss_and_grads(model, ids):
    model.train()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return out.loss.detach(), grads


@pytest.mark.parametrize("checkpointing", ["none", "full", "trainer"])
def test_loss_and_lora_gradients_equal_the_dequantize_up_front_path(mxfp4_dir, tmp_path, checkpointing):
    import torch

    from medswallow.train.modeling import load_model
    from medswallow.train.perf import PerfConfig, apply_perf

    reference_recipe = _recipe(mxfp4_dir, tmp_path)
    mxfp4_recipe = _recipe(mxfp4_dir, tmp_path, "model.experts_dtype=mxfp4")
    reference = _peft(load_model(reference_recipe), reference_recipe)
    model = load_model(mxfp4_recipe)
    if checkpointing == "full":
        apply_perf(model, PerfConfig(experts="grouped", checkpointing="full"))
    elif checkpointing == "trainer":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = _peft(model, mxfp4_recipe)
    ids = torch.randint(0, 199_000, (2, 24), generator=torch.Generator().manual_seed(1))
    ref_loss, ref_grads = _loss_and_grads(reference, ids)
    loss, grads = _loss_and_grads(model, ids)
    assert torch.allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
    assert set(grads) == set(ref_grads) and any(".experts." in n for n in grads)
    for name, ref in ref_grads.items():
        assert ref.abs().max() > 0, name
        assert torch.allclose(grads[name], ref, rtol=1e-4, atol=1e-7 + 1e-4 * ref.abs().max().item()), name
    # The base experts take no gradient and nothing of theirs is trainable.
    for name, buf in model.named_buffers():
        if name.endswith(("_blocks", "_scales")):
            assert not buf.requires_grad and buf.grad is None
    assert all(".lora_" in n for n, p in model.named_parameters() if p.requires_grad)


def test_a_hub_id_that_is_not_downloaded_is_named_with_the_fix(monkeypatch, tmp_path):
    from medswallow.train.mxfp4 import local_folder

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache
    with pytest.raises(UserError, match="hf download nobody/no-such-model"):
        local_folder("nobody/no-such-model")
    assert local_folder(str(tmp_path)) == tmp_path


def test_mxfp4_experts_refuse_full_fine_tuning(mxfp4_dir, tmp_path):
    from medswallow.train.modeling import load_model

    with pytest.raises(UserError, match="method: lora"):
        load_model(_recipe(mxfp4_dir, tmp_path, "model.experts_dtype=mxfp4", "method=full"))


# ------------------------------------------------------------------------------------------------- export


@pytest.mark.parametrize("base", ["mxfp4", "bf16"])
def test_streaming_merge_equals_dequantize_plus_lora_delta(mxfp4_dir, tiny_model_dir, tmp_path, base):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from medswallow.train.modeling import load_model
    from medswallow.train.mxfp4 import merge_adapter_streaming

    base_dir = mxfp4_dir if base == "mxfp4" else tiny_model_dir
    recipe = _recipe(base_dir, tmp_path, "model.experts_dtype=mxfp4")
    model = _peft(load_model(recipe), recipe)
    model.save_pretrained(tmp_path / "adapter")
    # Tiny shards: the merge must spread the model over several files and index them.
    merged = merge_adapter_streaming(
        base_dir, tmp_path / "adapter", tmp_path / "merged", "float32", max_shard_bytes=2**20
    )
    index = json.loads((merged / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    assert "quantization_config" not in json.loads((merged / "config.json").read_text())
    # Reference: transformers dequantizes the base up front, PEFT merges the adapter into it.
    reference = PeftModel.from_pretrained(load_model(_recipe(base_dir, tmp_path)), tmp_path / "adapter")
    expected = reference.merge_and_unload().state_dict()
    got = {k: v for f in merged.glob("model-*.safetensors") for k, v in load_file(f).items()}
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert torch.allclose(got[key], value, rtol=1e-6, atol=1e-6), key
    changed = [k for k in expected if ".experts." in k and not k.endswith("bias")]
    assert changed and all(
        not torch.equal(got[k], load_file(tiny_model_dir / "model.safetensors")[k].float()) for k in changed
    )
    if base == "bf16":
        return  # merged into the unquantized weights: better than what trained, not equal to it
    # The folder loads as a plain model (what vLLM reads) and scores like the adapter on the MXFP4 path.
    served = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    ids = torch.randint(0, 199_000, (1, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (served(input_ids=ids).logits - model.eval()(input_ids=ids).logits).abs().max() < 1e-3


def test_merge_names_an_adapter_that_does_not_fit_the_base(mxfp4_dir, tmp_path):
    from medswallow.train.mxfp4 import merge_adapter_streaming

    with pytest.raises(UserError, match="not a LoRA adapter folder"):
        merge_adapter_streaming(mxfp4_dir, tmp_path, tmp_path / "merged")


# ------------------------------------------------------------------------------------------ the whole command


def test_train_command_with_mxfp4_experts_trains_and_exports_a_servable_folder(mxfp4_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    from medswallow.train.runner import run_recipe

    corpus = write_corpus(tmp_path / "corpus", n_docs=8)
    recipe = cpt_recipe(mxfp4_dir, corpus, tmp_path / "out", max_steps=2, save_steps=100, learning_rate=5e-3)
    recipe.update(method="lora", lora={"r": 4, "alpha": 8, "targets": ["attention", "experts"]})
    recipe["model"].update(experts_dtype="mxfp4", dtype="float32")
    recipe["export"] = {"dtype": "float32"}
    result = run_recipe(write_recipe(tmp_path / "r.yaml", recipe))
    assert result.finished and result.model_dir is not None
    adapter = load_file(tmp_path / "out" / "adapter" / "adapter_model.safetensors")
    assert any(".experts." in k for k in adapter)  # the adapter alone is saved too
    merged = {k: v for f in result.model_dir.glob("model-*.safetensors") for k, v in load_file(f).items()}
    assert "model.layers.0.mlp.experts.gate_up_proj" in merged and not any(
        k.endswith("_blocks") for k in merged
    )
    assert merged["model.layers.0.mlp.experts.gate_up_proj"].dtype == torch.float32
    assert (result.model_dir / "tokenizer.json").is_file()


# ------------------------------------------------------------------------------------------------- the plan


def test_the_plan_says_which_gpus_the_120b_needs_with_and_without_mxfp4_experts():
    from transformers import GptOssConfig

    from medswallow.train.mxfp4 import expert_values, placement_note, weight_bytes
    from medswallow.train.plan import GIB, MemoryEstimate

    config = GptOssConfig(num_hidden_layers=36, num_local_experts=128)  # gpt-oss-120b's shape
    total, trainable = 116_829_156_672, 1_073_627_136  # counted on the meta device (LoRA r=16)
    assert expert_values(config) == 36 * 128 * 3 * 2880 * 2880
    mxfp4 = weight_bytes(config, total, trainable, 2, "mxfp4")
    assert 68 * GIB < mxfp4 < 69 * GIB  # 60.8 GiB of MXFP4 experts measured on an H200, + bf16 rest + scratch
    memory = MemoryEstimate(weights=0.0, gradients=4 * GIB, optimizer=8 * GIB, activations=15 * GIB)
    note = placement_note(config, (total, trainable), memory, "bf16", 2, 0.92 * 140 * GIB)
    assert note is not None
    assert "fits: 4 GPUs with FSDP/ZeRO-3" in note and "need 96 GiB: one GPU" in note
    # A model that fits as it is gets no note; a non-gpt-oss model never does.
    assert placement_note(config, (total, trainable), memory, "bf16", 2, 1000 * GIB) is None
    assert placement_note(type("C", (), {"model_type": "llama"})(), (total, trainable), memory, "bf16", 2, GIB) is None
